// pipeline/repair_report.cpp: see repair_report.h.
#include "pipeline/repair_report.h"

#include "base/error.h"

void nlohmann::adl_serializer<melodl::midi::RepairKind>::to_json(json& j,
                                                                 melodl::midi::RepairKind kind) {
  j = std::string(melodl::midi::repair_kind_name(kind));
}

void nlohmann::adl_serializer<melodl::midi::RepairKind>::from_json(const json& j,
                                                                   melodl::midi::RepairKind& kind) {
  const auto name = j.get<std::string>();
  for (std::size_t k = 0; k < melodl::midi::kRepairKindCount; ++k) {
    const auto candidate = static_cast<melodl::midi::RepairKind>(k);
    if (melodl::midi::repair_kind_name(candidate) == name) {
      kind = candidate;
      return;
    }
  }
  throw melodl::FormatError("unknown repair kind '" + name + "'");
}

namespace melodl::midi {

void to_json(nlohmann::json& j, const Repairs& repairs) {
  j = {{"total", repairs.total},
       {"by_kind", pipeline::repairs_by_kind_json(repairs)},
       {"items", repairs.items}};
}

void from_json(const nlohmann::json& j, Repairs& repairs) {
  repairs = {};
  j.at("total").get_to(repairs.total);
  j.at("items").get_to(repairs.items);
  for (const auto& [name, count] : j.at("by_kind").items())
    repairs.by_kind[static_cast<std::size_t>(nlohmann::json(name).get<RepairKind>())] =
        count.get<std::size_t>();
}

}  // namespace melodl::midi

namespace melodl::pipeline {

nlohmann::json repairs_by_kind_json(const midi::Repairs& repairs) {
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t k = 0; k < midi::kRepairKindCount; ++k)
    if (repairs.by_kind[k] > 0)
      j[std::string(midi::repair_kind_name(static_cast<midi::RepairKind>(k)))] = repairs.by_kind[k];
  return j;
}

std::string repair_counts_text(const midi::Repairs& repairs) {
  std::string text;
  for (std::size_t k = 0; k < midi::kRepairKindCount; ++k)
    if (repairs.by_kind[k] > 0)
      text += (text.empty() ? "" : ", ") +
              std::string(midi::repair_kind_name(static_cast<midi::RepairKind>(k))) + " " +
              std::to_string(repairs.by_kind[k]);
  return text;
}

void add_repair_counts(midi::Repairs& sum, const midi::Repairs& file) {
  for (std::size_t k = 0; k < midi::kRepairKindCount; ++k) sum.by_kind[k] += file.by_kind[k];
  sum.total += file.total;
}

std::string repair_warning(std::string_view source, const midi::Repair& repair) {
  std::string line(source);
  if (repair.offset >= 0) line += ": offset " + std::to_string(repair.offset);
  if (repair.track >= 0) line += ": track " + std::to_string(repair.track + 1);  // as details
  line += ": " + repair.detail + " (" + std::string(midi::repair_kind_name(repair.kind)) + ")";
  return line;
}

std::vector<std::string> repair_warnings(std::string_view source, const midi::Repairs& repairs) {
  std::vector<std::string> lines;
  lines.reserve(repairs.items.size() + 1);
  for (const auto& r : repairs.items) lines.push_back(repair_warning(source, r));
  if (repairs.total > repairs.items.size())
    lines.push_back(std::string(source) + ": " +
                    std::to_string(repairs.total - repairs.items.size()) +
                    " more repairs not itemised");
  return lines;
}

}  // namespace melodl::pipeline
