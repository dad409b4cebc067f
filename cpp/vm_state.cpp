// The one VM's state (vm_state.h).
// Public API only.
#include "vm_state.h"

namespace lh {

Vm g_vm;

}  // namespace lh
