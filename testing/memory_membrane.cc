#include "testing/memory_membrane.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

namespace nitric::testing {

using host::Status;

namespace {

// JSON text of `value` with the keys of every object sorted bytewise. The
// protobuf JSON printer writes a Struct's keys in its map's order, which
// changes from one process to the next; a test must be able to compare
// values as text. Scalars are printed by protobuf itself, so numbers and
// escapes read as from a real membrane.
bool PrintSorted(const google::protobuf::Value& value, std::string* out) {
  const google::protobuf::util::JsonPrintOptions options;
  switch (value.kind_case()) {
    case google::protobuf::Value::kStructValue: {
      std::vector<const std::string*> keys;
      for (const auto& [key, unused] : value.struct_value().fields()) keys.push_back(&key);
      std::sort(keys.begin(), keys.end(), [](auto* a, auto* b) { return *a < *b; });
      out->push_back('{');
      for (const std::string* key : keys) {
        if (out->back() != '{') out->push_back(',');
        google::protobuf::Value name;
        name.set_string_value(*key);
        std::string quoted;
        if (!google::protobuf::util::MessageToJsonString(name, &quoted, options).ok()) return false;
        out->append(quoted).push_back(':');
        if (!PrintSorted(value.struct_value().fields().at(*key), out)) return false;
      }
      out->push_back('}');
      return true;
    }
    case google::protobuf::Value::kListValue: {
      out->push_back('[');
      for (const google::protobuf::Value& item : value.list_value().values()) {
        if (out->back() != '[') out->push_back(',');
        if (!PrintSorted(item, out)) return false;
      }
      out->push_back(']');
      return true;
    }
    default: {
      std::string scalar;
      if (!google::protobuf::util::MessageToJsonString(value, &scalar, options).ok()) return false;
      out->append(scalar);
      return true;
    }
  }
}

// The gRPC client's conversion (grpc_membrane_client.cc, KvSet then KvGet):
// JSON text -> google.protobuf.Struct -> JSON text, keys sorted.
Status NormaliseJson(std::string_view json, std::string* out) {
  google::protobuf::Value value;
  auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), value.mutable_struct_value());
  if (!parsed.ok()) {
    return Status(NITRIC_ERR_INVALID_ARGUMENT, "value is not a JSON object: " + parsed.ToString());
  }
  out->clear();
  if (!PrintSorted(value, out)) {
    return Status(NITRIC_ERR_INTERNAL, "value is not representable as JSON");
  }
  return Status();
}

}  // namespace

Status MemoryMembrane::DownStatus() const {
  if (!down_) return Status();
  return Status(NITRIC_ERR_UNAVAILABLE,
                "the membrane cannot be reached (the test called SetMembraneDown(true))");
}

Status MemoryMembrane::Send(std::string_view socket, std::string_view connection_id,
                            std::string_view data) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status down = DownStatus(); !down.ok()) return down;
  Target target = TargetOf(socket, connection_id);
  if (auto it = failing_.find(target); it != failing_.end()) {
    return Status(it->second, fmt::format("send failed with {}, as the test asked (FailSendsTo)",
                                          nitric_status_name(it->second)));
  }
  sent_[std::move(target)].emplace_back(data);
  return Status();
}

void MemoryMembrane::SendAsync(std::string_view socket, std::string_view connection_id,
                               std::string_view data, SendDone done) {
  done(Send(socket, connection_id, data));
}

Status MemoryMembrane::Close(std::string_view socket, std::string_view connection_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status down = DownStatus(); !down.ok()) return down;
  closed_.insert(TargetOf(socket, connection_id));
  return Status();
}

Status MemoryMembrane::SocketUrl(std::string_view socket, std::string* url) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status down = DownStatus(); !down.ok()) return down;
  // .invalid (RFC 2606): a URL nobody can connect to by mistake.
  *url = fmt::format("ws://{}.testing.invalid", socket);
  return Status();
}

Status MemoryMembrane::KvGet(std::string_view store, std::string_view key, std::string* json) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (Status down = DownStatus(); !down.ok()) return down;
  }
  if (!Get(store, key, json)) return Status(NITRIC_ERR_NOT_FOUND, "key not found");
  return Status();
}

Status MemoryMembrane::KvSet(std::string_view store, std::string_view key, std::string_view json) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (Status down = DownStatus(); !down.ok()) return down;
  }
  return Set(store, key, json);
}

Status MemoryMembrane::KvDelete(std::string_view store, std::string_view key) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (Status down = DownStatus(); !down.ok()) return down;
  }
  Delete(store, key);
  return Status();
}

Status MemoryMembrane::KvKeys(std::string_view store, std::string_view prefix,
                              std::vector<std::string>* keys) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (Status down = DownStatus(); !down.ok()) return down;
  }
  *keys = Keys(store, prefix);
  return Status();
}

std::vector<std::string> MemoryMembrane::SentTo(std::string_view socket,
                                                std::string_view connection_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sent_.find(TargetOf(socket, connection_id));
  return it != sent_.end() ? it->second : std::vector<std::string>{};
}

bool MemoryMembrane::Closed(std::string_view socket, std::string_view connection_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_.count(TargetOf(socket, connection_id)) != 0;
}

void MemoryMembrane::FailSendsTo(std::string_view socket, std::string_view connection_id,
                                 nitric_status status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (status == NITRIC_OK) {
    failing_.erase(TargetOf(socket, connection_id));
  } else {
    failing_[TargetOf(socket, connection_id)] = status;
  }
}

void MemoryMembrane::SetDown(bool down) {
  std::lock_guard<std::mutex> lock(mu_);
  down_ = down;
}

bool MemoryMembrane::Get(std::string_view store, std::string_view key, std::string* json) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto s = stores_.find(store);
  if (s == stores_.end()) return false;
  auto it = s->second.find(key);
  if (it == s->second.end()) return false;
  *json = it->second;
  return true;
}

Status MemoryMembrane::Set(std::string_view store, std::string_view key, std::string_view json) {
  std::string normalised;
  if (Status st = NormaliseJson(json, &normalised); !st.ok()) return st;
  std::lock_guard<std::mutex> lock(mu_);
  auto s = stores_.find(store);
  if (s == stores_.end()) s = stores_.emplace(std::string(store), Store()).first;
  s->second.insert_or_assign(std::string(key), std::move(normalised));
  return Status();
}

void MemoryMembrane::Delete(std::string_view store, std::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto s = stores_.find(store);
  if (s == stores_.end()) return;
  if (auto it = s->second.find(key); it != s->second.end()) s->second.erase(it);
}

std::vector<std::string> MemoryMembrane::Keys(std::string_view store,
                                              std::string_view prefix) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> keys;
  auto s = stores_.find(store);
  if (s == stores_.end()) return keys;
  for (auto it = s->second.lower_bound(prefix);
       it != s->second.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix;
       ++it) {
    keys.push_back(it->first);
  }
  return keys;
}

}  // namespace nitric::testing
