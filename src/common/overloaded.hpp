// common/overloaded.hpp — the `Overloaded{lambdas...}` visitor for std::visit, written once for the whole project.
#pragma once

namespace relink::detail {

template <class... F>
struct Overloaded : F... {
    using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace relink::detail
