// The hub (server/hub.hpp). Placeholder.
#include "server/hub.hpp"
