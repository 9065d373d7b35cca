// The JSON wire codec (protocol/codec.hpp). Placeholder: filled by the codec work.
#include "protocol/codec.hpp"
