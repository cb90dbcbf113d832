#include "host/plugins/config_lookup.h"

#include <fmt/format.h>

namespace nitric::host {

nitric_status LookupConfig(const toml::table& table, std::string_view path,
                           nitric_config_value* out, std::string* error) {
  *out = nitric_config_value{};
  out->type = NITRIC_CONFIG_NONE;
  const toml::node* node = path.empty() ? &table : toml::at_path(table, path).node();
  if (node == nullptr) return NITRIC_OK;

  switch (node->type()) {
    case toml::node_type::string: {
      const std::string& s = node->as_string()->get();
      out->type = NITRIC_CONFIG_STRING;
      out->string = nitric_str{s.data(), s.size()};
      return NITRIC_OK;
    }
    case toml::node_type::integer:
      out->type = NITRIC_CONFIG_INTEGER;
      out->integer = node->as_integer()->get();
      out->number = static_cast<double>(out->integer);
      return NITRIC_OK;
    case toml::node_type::floating_point:
      out->type = NITRIC_CONFIG_FLOAT;
      out->number = node->as_floating_point()->get();
      return NITRIC_OK;
    case toml::node_type::boolean:
      out->type = NITRIC_CONFIG_BOOL;
      out->boolean = node->as_boolean()->get() ? 1 : 0;
      return NITRIC_OK;
    case toml::node_type::array:
      out->type = NITRIC_CONFIG_ARRAY;
      out->count = node->as_array()->size();
      return NITRIC_OK;
    case toml::node_type::table:
      out->type = NITRIC_CONFIG_TABLE;
      out->count = node->as_table()->size();
      return NITRIC_OK;
    default:
      // Dates and times have no nitric_config_type; a quoted string does.
      *error = fmt::format(
          "config value '{}' is a TOML date/time, which plugins cannot read: "
          "write it as a quoted string",
          path);
      return NITRIC_ERR_INVALID_ARGUMENT;
  }
}

}  // namespace nitric::host
