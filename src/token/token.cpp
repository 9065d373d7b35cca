// Login tokens (token/token.hpp). Placeholder.
#include "token/token.hpp"
