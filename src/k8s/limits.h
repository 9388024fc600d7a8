// Bounds on everything the Kubernetes client reads from outside (the API server and
// kubeconfig files), in one place. A hostile or broken API server must not be able to
// make the agent exceed the chart's memory limit (320 MiB): past a bound the client
// drops what it is reading, counts it, and goes on (see tests/k8s/hostile_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace caretta::k8s {

struct ClientLimits {
  // Objects asked for per LIST page (`limit=`). Halved (down to 1) for the same
  // page when a page exceeds max_page_bytes, so large objects (annotations of 256 KiB
  // are legal) still list, a few at a time.
  int page_size = 500;
  // One LIST page or any other non-watch answer: bytes after decompression (libcurl
  // inflates gzip before the write callback, which enforces this and aborts the
  // transfer) and bytes on the wire (compressed). Parsing a page costs about its
  // size again (simdjson's structural index), so a page peaks near twice this.
  // Kubernetes objects are at most ~1.5 MiB (etcd's request limit), so a page of one
  // object always fits.
  std::size_t max_page_bytes = 8u << 20;
  // Pages per LIST: a `continue` token that never ends fails the LIST (counted,
  // retried with backoff) instead of running forever. 150,000 pods of 40 KiB each
  // list in ~1,200 pages of 125.
  int max_pages = 5000;
  // Objects kept per LIST (the whole list is held until it is complete, so it can
  // replace the previous one atomically). Kubernetes supports 150,000 pods per
  // cluster; a decoded object is ~200 bytes, so this bounds a LIST near 40 MiB.
  std::size_t max_list_objects = 200000;
  // One watch event: bytes without a newline. Past it the stream is dropped,
  // counted and the resource relisted with backoff. An event is one object (~1.5 MiB
  // at most) in its JSON envelope.
  std::size_t max_watch_line_bytes = 8u << 20;
  // Error bodies (non-200 answers) are kept only for the log line.
  std::size_t max_error_body_bytes = 64u << 10;
  // JSON nesting simdjson accepts in one object; deeper objects are skipped and
  // counted (real Kubernetes objects nest a few tens of levels).
  std::size_t max_json_depth = 256;
  // The parser's buffers grow to the largest document it saw; past this they are
  // given back after use, so one large page does not stay resident.
  std::size_t parser_keep_bytes = 256u << 10;
};

// LISTs running at once across a resolver's reflectors (one per resource): each
// holds up to a page of text and its decoded objects, so ten at once could need ten
// pages. Watches are not gated (each is bounded by max_watch_line_bytes).
inline constexpr int kMaxConcurrentLists = 2;

// kubeconfig files: size (a real one is a few KiB; certificates inline make it tens),
// YAML nesting depth. YAML aliases are refused outright (billion laughs).
inline constexpr std::size_t kMaxKubeconfigBytes = 1u << 20;
inline constexpr int kMaxKubeconfigDepth = 32;
// Bearer token files (re-read when they rotate); a JWT is a few KiB.
inline constexpr std::size_t kMaxTokenFileBytes = 64u << 10;

}  // namespace caretta::k8s
