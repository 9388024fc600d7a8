// Prometheus text exposition format 0.0.4. Hand-written: prometheus-cpp is not
// packaged in Debian 12, and the format needs only escaping and stable ordering.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace caretta::exporter {

using Label = std::pair<std::string_view, std::string_view>;

class PrometheusText {
 public:
  // Starts a metric family; samples for it must follow before the next Family().
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, std::span<const Label> labels, double value);
  void Sample(std::string_view name, std::span<const Label> labels, std::uint64_t value);
  // Braced label lists ({{"a", "b"}}) cannot become a span by themselves.
  void Sample(std::string_view name, std::initializer_list<Label> labels, double value) {
    Sample(name, std::span<const Label>(labels.begin(), labels.size()), value);
  }
  void Sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value) {
    Sample(name, std::span<const Label>(labels.begin(), labels.size()), value);
  }
  const std::string& str() const { return out_; }

 private:
  void Head(std::string_view name, std::span<const Label> labels);
  std::string out_;
};

// Label value escaping: backslash, double quote and newline.
void AppendEscapedLabelValue(std::string& out, std::string_view value);

}  // namespace caretta::exporter
