#include "host/plugins/config_lookup.h"

#include <fmt/format.h>

namespace nitric::host {

Status LookupConfig(const toml::table& table, std::string_view path, nitric_config_value* out) {
  *out = nitric_config_value{};
  out->type = NITRIC_CONFIG_NONE;
  const toml::node* node = path.empty() ? &table : toml::at_path(table, path).node();
  if (node == nullptr) return Status();

  switch (node->type()) {
    case toml::node_type::string: {
      const std::string& s = node->as_string()->get();
      out->type = NITRIC_CONFIG_STRING;
      out->string = nitric_str{s.data(), s.size()};
      return Status();
    }
    case toml::node_type::integer:
      out->type = NITRIC_CONFIG_INTEGER;
      out->integer = node->as_integer()->get();
      out->number = static_cast<double>(out->integer);
      return Status();
    case toml::node_type::floating_point:
      out->type = NITRIC_CONFIG_FLOAT;
      out->number = node->as_floating_point()->get();
      return Status();
    case toml::node_type::boolean:
      out->type = NITRIC_CONFIG_BOOL;
      out->boolean = node->as_boolean()->get() ? 1 : 0;
      return Status();
    case toml::node_type::array:
      out->type = NITRIC_CONFIG_ARRAY;
      out->count = node->as_array()->size();
      return Status();
    case toml::node_type::table:
      out->type = NITRIC_CONFIG_TABLE;
      out->count = node->as_table()->size();
      return Status();
    default:
      // Dates and times have no nitric_config_type; a quoted string does.
      return Status(NITRIC_ERR_INVALID_ARGUMENT,
                    fmt::format("config value '{}' is a TOML date/time, which plugins cannot "
                                "read: write it as a quoted string",
                                path));
  }
}

}  // namespace nitric::host
