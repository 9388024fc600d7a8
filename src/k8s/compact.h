// Compact field types for the cluster mirror, which holds every pod of the cluster:
// a 100k-pod cluster must fit in a few tens of MiB (bench/results/k8s.md).
//
// - SharedString: an immutable, reference-counted string in 8 bytes. A StringPool
//   makes equal values share one copy, so the namespace, node, owner kind and owner
//   name that every pod repeats cost a pointer each instead of a 32-byte std::string.
// - InlineVector: up to N trivially copyable items inline (a pod's one or two IPs),
//   more on the heap, with no 24-byte vector header and no allocation in the common case.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>

namespace caretta::k8s {

class SharedString {
 public:
  SharedString() = default;  // empty: no allocation
  // Implicit, like std::string: decoded fields are assigned from string views.
  SharedString(std::string_view text);  // NOLINT(google-explicit-constructor)
  SharedString(const char* text) : SharedString(std::string_view(text)) {}         // NOLINT
  SharedString(const std::string& text) : SharedString(std::string_view(text)) {}  // NOLINT
  SharedString(const SharedString& other) noexcept : rep_(other.rep_) {
    if (rep_ != nullptr) rep_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  SharedString(SharedString&& other) noexcept : rep_(std::exchange(other.rep_, nullptr)) {}
  SharedString& operator=(SharedString other) noexcept {
    std::swap(rep_, other.rep_);
    return *this;
  }
  ~SharedString();

  std::string_view view() const {
    return rep_ == nullptr ? std::string_view()
                           : std::string_view(reinterpret_cast<const char*>(rep_ + 1), rep_->size);
  }
  operator std::string_view() const { return view(); }  // NOLINT(google-explicit-constructor)
  std::string str() const { return std::string(view()); }
  bool empty() const { return rep_ == nullptr; }
  std::size_t size() const { return rep_ == nullptr ? 0 : rep_->size; }
  // Handles sharing these characters (0 when empty); exact only while no other thread
  // copies or drops one, which is how StringPool uses it.
  std::uint32_t use_count() const {
    return rep_ == nullptr ? 0 : rep_->refs.load(std::memory_order_acquire);
  }
  bool SharesWith(const SharedString& other) const { return rep_ == other.rep_; }
  // Heap bytes of the characters' block (header included), for memory accounting.
  std::size_t allocated_bytes() const { return rep_ == nullptr ? 0 : sizeof(Rep) + rep_->size; }

  friend bool operator==(const SharedString& a, const SharedString& b) {
    return a.rep_ == b.rep_ || a.view() == b.view();
  }
  friend bool operator==(const SharedString& a, std::string_view b) { return a.view() == b; }
  friend bool operator==(const SharedString& a, const std::string& b) { return a.view() == b; }
  friend bool operator==(const SharedString& a, const char* b) { return a.view() == b; }
  friend std::ostream& operator<<(std::ostream& os, const SharedString& s) {
    return os << s.view();
  }

 private:
  struct Rep {
    std::atomic<std::uint32_t> refs;
    std::uint32_t size;
    // the characters follow
  };
  Rep* rep_ = nullptr;
};

// Interns SharedStrings so equal values share one copy. Not thread-safe: its owner
// (ClusterStore, under its lock) serializes calls. Strings only the pool still holds
// are dropped whenever the pool has doubled since the last sweep, so churning names
// (ReplicaSets of every rollout, replaced nodes) do not accumulate.
class StringPool {
 public:
  // Makes `s` share the pool's copy of its characters (the pool adopts `s` if new).
  void Intern(SharedString& s);
  std::size_t size() const { return strings_.size(); }
  std::size_t allocated_bytes() const;  // characters of every pooled string

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  struct Equal {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
  };
  void Sweep();

  std::unordered_set<SharedString, Hash, Equal> strings_;
  std::size_t sweep_at_ = 1024;
};

template <typename T, std::size_t N>
class InlineVector {
  static_assert(std::is_trivially_copyable_v<T>, "items are moved with memcpy");
  static_assert(N * sizeof(T) >= sizeof(T*), "the inline space holds the heap pointer");

 public:
  static constexpr std::size_t kMaxSize = 255;  // more is dropped (size fits a byte)

  InlineVector() = default;
  InlineVector(std::initializer_list<T> items) {
    for (const T& x : items) push_back(x);
  }
  InlineVector(const InlineVector& other) {
    for (const T& x : other) push_back(x);
  }
  InlineVector(InlineVector&& other) noexcept { Steal(other); }
  InlineVector& operator=(const InlineVector& other) {
    if (this != &other) *this = InlineVector(other);
    return *this;
  }
  InlineVector& operator=(InlineVector&& other) noexcept {
    if (this != &other) {
      Free();
      Steal(other);
    }
    return *this;
  }
  ~InlineVector() { Free(); }

  void push_back(const T& x) {
    if (size_ < N) {
      items_[size_++] = x;
      return;
    }
    if (size_ >= kMaxSize) return;
    // Grows one at a time: lists this long are rare and stay short.
    const std::uint8_t size = size_;
    T* grown = new T[size + 1];
    std::copy(begin(), end(), grown);
    grown[size] = x;
    Free();
    std::memcpy(static_cast<void*>(items_), &grown, sizeof grown);
    size_ = size + 1;
  }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  const T& operator[](std::size_t i) const { return data()[i]; }

  friend bool operator==(const InlineVector& a, const InlineVector& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  bool spilled() const { return size_ > N; }
  T* heap() const {
    T* p;
    std::memcpy(&p, static_cast<const void*>(items_), sizeof p);
    return p;
  }
  const T* data() const { return spilled() ? heap() : items_; }
  void Free() {
    if (spilled()) delete[] heap();
    size_ = 0;
  }
  void Steal(InlineVector& other) {
    std::memcpy(static_cast<void*>(items_), static_cast<const void*>(other.items_), sizeof items_);
    size_ = std::exchange(other.size_, 0);
  }

  T items_[N];  // the items, or (spilled) a pointer to size_ items on the heap
  std::uint8_t size_ = 0;
};

}  // namespace caretta::k8s
