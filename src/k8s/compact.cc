#include "k8s/compact.h"

#include <new>

namespace caretta::k8s {

SharedString::SharedString(std::string_view text) {
  if (text.empty()) return;
  void* block = ::operator new(sizeof(Rep) + text.size());
  rep_ = new (block) Rep{{1}, static_cast<std::uint32_t>(text.size())};
  std::memcpy(static_cast<void*>(rep_ + 1), text.data(), text.size());
}

SharedString::~SharedString() {
  if (rep_ != nullptr && rep_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    rep_->~Rep();
    ::operator delete(rep_);
  }
}

void StringPool::Intern(SharedString& s) {
  if (s.empty()) return;
  auto it = strings_.find(s.view());
  if (it != strings_.end()) {
    if (!it->SharesWith(s)) s = *it;
    return;
  }
  strings_.insert(s);
  if (strings_.size() >= sweep_at_) {
    Sweep();
    sweep_at_ = std::max<std::size_t>(1024, 2 * strings_.size());
  }
}

void StringPool::Sweep() {
  // use_count() == 1: only the pool holds it, and only the pool hands out copies.
  std::erase_if(strings_, [](const SharedString& s) { return s.use_count() == 1; });
}

std::size_t StringPool::allocated_bytes() const {
  std::size_t bytes = 0;
  for (const SharedString& s : strings_) bytes += s.allocated_bytes();
  return bytes;
}

}  // namespace caretta::k8s
