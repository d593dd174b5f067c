// TransformerModel<double>: the float64 twin of the model (model.hpp), the reference the tests
// train side by side with the float model. Linked into the tests only.
#include "model/model_impl.hpp"

namespace kexue::model {

template class TransformerModel<double>;

}  // namespace kexue::model
