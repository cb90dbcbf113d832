// Checks the compiled protocol against Nitric's names and numbers
// (docs/PROTOCOL.md#services), so a typo in a name, number, type or oneof
// cannot ship: the method paths and the binary encoding that real Nitric
// membranes and SDKs use are derived from them.
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nitric/proto/kvstore/v1/kvstore.grpc.pb.h"
#include "nitric/proto/resources/v1/resources.grpc.pb.h"
#include "nitric/proto/websockets/v1/websockets.grpc.pb.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;

struct Field {
  std::string name;
  int number;
  FieldDescriptor::Type type;
  std::string message_or_enum;  // full name for message/enum fields, else ""
  std::string oneof;            // containing real oneof, or ""
  bool repeated = false;
};

struct Message {
  std::string full_name;
  std::vector<Field> fields;
};

constexpr auto kString = FieldDescriptor::TYPE_STRING;
constexpr auto kBytes = FieldDescriptor::TYPE_BYTES;
constexpr auto kBool = FieldDescriptor::TYPE_BOOL;
constexpr auto kEnum = FieldDescriptor::TYPE_ENUM;
constexpr auto kMsg = FieldDescriptor::TYPE_MESSAGE;

const std::string kWs = "nitric.proto.websockets.v1.";
const std::string kKv = "nitric.proto.kvstore.v1.";
const std::string kRes = "nitric.proto.resources.v1.";

std::vector<Message> ExpectedMessages() {
  return {
      {kWs + "WebsocketDetailsRequest", {{"socket_name", 1, kString, "", ""}}},
      {kWs + "WebsocketDetailsResponse", {{"url", 1, kString, "", ""}}},
      {kWs + "WebsocketSendRequest",
       {{"socket_name", 1, kString, "", ""},
        {"connection_id", 2, kString, "", ""},
        {"data", 3, kBytes, "", ""}}},
      {kWs + "WebsocketSendResponse", {}},
      {kWs + "WebsocketCloseConnectionRequest",
       {{"socket_name", 1, kString, "", ""}, {"connection_id", 2, kString, "", ""}}},
      {kWs + "WebsocketCloseConnectionResponse", {}},
      {kWs + "ClientMessage",
       {{"id", 1, kString, "", ""},
        {"registration_request", 2, kMsg, kWs + "RegistrationRequest", "content"},
        {"websocket_event_response", 3, kMsg, kWs + "WebsocketEventResponse", "content"}}},
      {kWs + "RegistrationRequest",
       {{"socket_name", 1, kString, "", ""},
        {"event_type", 2, kEnum, kWs + "WebsocketEventType", ""}}},
      {kWs + "RegistrationResponse", {}},
      {kWs + "ServerMessage",
       {{"id", 1, kString, "", ""},
        {"registration_response", 2, kMsg, kWs + "RegistrationResponse", "content"},
        {"websocket_event_request", 3, kMsg, kWs + "WebsocketEventRequest", "content"}}},
      {kWs + "WebsocketEventRequest",
       {{"socket_name", 1, kString, "", ""},
        {"connection_id", 2, kString, "", ""},
        {"connection", 10, kMsg, kWs + "WebsocketConnectionEvent", "websocket_event"},
        {"disconnection", 11, kMsg, kWs + "WebsocketDisconnectionEvent", "websocket_event"},
        {"message", 12, kMsg, kWs + "WebsocketMessageEvent", "websocket_event"}}},
      {kWs + "QueryValue", {{"value", 1, kString, "", "", true}}},
      {kWs + "WebsocketConnectionEvent",
       {{"query_params", 1, kMsg, kWs + "WebsocketConnectionEvent.QueryParamsEntry", "", true}}},
      {kWs + "WebsocketDisconnectionEvent", {}},
      {kWs + "WebsocketMessageEvent", {{"body", 1, kBytes, "", ""}}},
      {kWs + "WebsocketEventResponse",
       {{"connection_response", 10, kMsg, kWs + "WebsocketConnectionResponse",
         "websocket_response"}}},
      {kWs + "WebsocketConnectionResponse", {{"reject", 1, kBool, "", ""}}},

      {kKv + "Store", {{"name", 1, kString, "", ""}}},
      {kKv + "ValueRef", {{"store", 1, kString, "", ""}, {"key", 2, kString, "", ""}}},
      {kKv + "Value",
       {{"ref", 1, kMsg, kKv + "ValueRef", ""},
        {"content", 2, kMsg, "google.protobuf.Struct", ""}}},
      {kKv + "KvStoreGetValueRequest", {{"ref", 1, kMsg, kKv + "ValueRef", ""}}},
      {kKv + "KvStoreGetValueResponse", {{"value", 1, kMsg, kKv + "Value", ""}}},
      {kKv + "KvStoreSetValueRequest",
       {{"ref", 1, kMsg, kKv + "ValueRef", ""},
        {"content", 3, kMsg, "google.protobuf.Struct", ""}}},
      {kKv + "KvStoreSetValueResponse", {}},
      {kKv + "KvStoreDeleteKeyRequest", {{"ref", 1, kMsg, kKv + "ValueRef", ""}}},
      {kKv + "KvStoreDeleteKeyResponse", {}},
      {kKv + "KvStoreScanKeysRequest",
       {{"store", 1, kMsg, kKv + "Store", ""}, {"prefix", 2, kString, "", ""}}},
      {kKv + "KvStoreScanKeysResponse", {{"key", 1, kString, "", ""}}},

      {kRes + "ResourceIdentifier",
       {{"type", 1, kEnum, kRes + "ResourceType", ""}, {"name", 2, kString, "", ""}}},
      {kRes + "PolicyResource",
       {{"principals", 1, kMsg, kRes + "ResourceIdentifier", "", true},
        {"actions", 2, kEnum, kRes + "Action", "", true},
        {"resources", 3, kMsg, kRes + "ResourceIdentifier", "", true}}},
      {kRes + "ResourceDeclareRequest",
       {{"id", 1, kMsg, kRes + "ResourceIdentifier", ""},
        {"policy", 10, kMsg, kRes + "PolicyResource", "config"},
        {"bucket", 11, kMsg, kRes + "BucketResource", "config"},
        {"topic", 12, kMsg, kRes + "TopicResource", "config"},
        {"key_value_store", 13, kMsg, kRes + "KeyValueStoreResource", "config"},
        {"secret", 14, kMsg, kRes + "SecretResource", "config"},
        {"api", 15, kMsg, kRes + "ApiResource", "config"},
        {"api_security_definition", 16, kMsg, kRes + "ApiSecurityDefinitionResource",
         "config"},
        {"queue", 17, kMsg, kRes + "QueueResource", "config"},
        {"sql_database", 18, kMsg, kRes + "SqlDatabaseResource", "config"},
        {"job", 19, kMsg, kRes + "JobResource", "config"}}},
      {kRes + "KeyValueStoreResource", {}},
      {kRes + "ResourceDeclareResponse", {}},
  };
}

// Touching one message of each file links the file in and registers it with
// the generated pool (a static library only links what is referenced).
const DescriptorPool& Pool() {
  nitric::proto::websockets::v1::ClientMessage::descriptor();
  nitric::proto::kvstore::v1::KvStoreScanKeysRequest::descriptor();
  nitric::proto::resources::v1::ResourceDeclareRequest::descriptor();
  return *DescriptorPool::generated_pool();
}

TEST(ProtoDescriptor, EveryMessageHasExactlyTheFieldsOfTheProtocol) {
  for (const Message& expected : ExpectedMessages()) {
    SCOPED_TRACE(expected.full_name);
    const Descriptor* d = Pool().FindMessageTypeByName(expected.full_name);
    ASSERT_NE(d, nullptr) << "message missing";
    EXPECT_EQ(d->field_count(), static_cast<int>(expected.fields.size()));
    for (const Field& f : expected.fields) {
      SCOPED_TRACE(f.name);
      const FieldDescriptor* fd = d->FindFieldByName(f.name);
      ASSERT_NE(fd, nullptr) << "field missing";
      EXPECT_EQ(fd->number(), f.number);
      EXPECT_EQ(fd->type(), f.type);
      EXPECT_EQ(fd->is_repeated(), f.repeated);
      if (f.type == kMsg) {
        EXPECT_EQ(fd->message_type()->full_name(), f.message_or_enum);
      } else if (f.type == kEnum) {
        EXPECT_EQ(fd->enum_type()->full_name(), f.message_or_enum);
      }
      const auto* oneof = fd->real_containing_oneof();
      EXPECT_EQ(oneof ? oneof->name() : std::string(), f.oneof);
    }
  }
}

TEST(ProtoDescriptor, QueryParamsIsAMapOfStringToQueryValue) {
  const Descriptor* d = Pool().FindMessageTypeByName(kWs + "WebsocketConnectionEvent");
  ASSERT_NE(d, nullptr);
  const FieldDescriptor* fd = d->FindFieldByName("query_params");
  ASSERT_NE(fd, nullptr);
  ASSERT_TRUE(fd->is_map());
  const Descriptor* entry = fd->message_type();
  EXPECT_EQ(entry->map_key()->type(), kString);
  EXPECT_EQ(entry->map_value()->message_type()->full_name(), kWs + "QueryValue");
}

TEST(ProtoDescriptor, EventResponseReservesElevenAndTwelve) {
  const Descriptor* d = Pool().FindMessageTypeByName(kWs + "WebsocketEventResponse");
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->IsReservedNumber(11));
  EXPECT_TRUE(d->IsReservedNumber(12));
}

struct EnumValue {
  std::string name;
  int number;
};

void ExpectEnum(const std::string& full_name, const std::vector<EnumValue>& values) {
  SCOPED_TRACE(full_name);
  const auto* e = Pool().FindEnumTypeByName(full_name);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->value_count(), static_cast<int>(values.size()));
  for (const EnumValue& v : values) {
    const auto* vd = e->FindValueByName(v.name);
    ASSERT_NE(vd, nullptr) << v.name;
    EXPECT_EQ(vd->number(), v.number) << v.name;
  }
}

TEST(ProtoDescriptor, EnumsMatchTheProtocol) {
  ExpectEnum(kWs + "WebsocketEventType", {{"Connect", 0}, {"Disconnect", 1}, {"Message", 2}});
  ExpectEnum(kRes + "ResourceType",
             {{"Api", 0},           {"Service", 1},
              {"Bucket", 2},        {"Topic", 3},
              {"Schedule", 4},      {"Subscription", 5},
              {"KeyValueStore", 6}, {"Policy", 7},
              {"Secret", 8},        {"BucketListener", 9},
              {"Websocket", 10},    {"Http", 11},
              {"ApiSecurityDefinition", 12}, {"Queue", 13},
              {"SqlDatabase", 14},  {"Batch", 15},
              {"Job", 16},          {"Website", 17}});
  ExpectEnum(kRes + "Action", {{"BucketFileList", 0},      {"BucketFileGet", 1},
                               {"BucketFilePut", 2},       {"BucketFileDelete", 3},
                               {"TopicPublish", 200},      {"KeyValueStoreRead", 300},
                               {"KeyValueStoreWrite", 301}, {"KeyValueStoreDelete", 302},
                               {"SecretPut", 400},         {"SecretAccess", 401},
                               {"WebsocketManage", 500},   {"QueueEnqueue", 600},
                               {"QueueDequeue", 601},      {"JobSubmit", 700}});
}

struct Method {
  std::string service;
  std::string name;
  std::string input;
  std::string output;
  bool client_streaming;
  bool server_streaming;
};

TEST(ProtoDescriptor, ServicesExposeTheProtocolsMethods) {
  const std::vector<Method> methods = {
      {kWs + "Websocket", "SendMessage", kWs + "WebsocketSendRequest",
       kWs + "WebsocketSendResponse", false, false},
      {kWs + "Websocket", "CloseConnection", kWs + "WebsocketCloseConnectionRequest",
       kWs + "WebsocketCloseConnectionResponse", false, false},
      {kWs + "Websocket", "SocketDetails", kWs + "WebsocketDetailsRequest",
       kWs + "WebsocketDetailsResponse", false, false},
      {kWs + "WebsocketHandler", "HandleEvents", kWs + "ClientMessage", kWs + "ServerMessage",
       true, true},
      {kKv + "KvStore", "GetValue", kKv + "KvStoreGetValueRequest",
       kKv + "KvStoreGetValueResponse", false, false},
      {kKv + "KvStore", "SetValue", kKv + "KvStoreSetValueRequest",
       kKv + "KvStoreSetValueResponse", false, false},
      {kKv + "KvStore", "DeleteKey", kKv + "KvStoreDeleteKeyRequest",
       kKv + "KvStoreDeleteKeyResponse", false, false},
      {kKv + "KvStore", "ScanKeys", kKv + "KvStoreScanKeysRequest",
       kKv + "KvStoreScanKeysResponse", false, true},
      {kRes + "Resources", "Declare", kRes + "ResourceDeclareRequest",
       kRes + "ResourceDeclareResponse", false, false},
  };
  for (const Method& m : methods) {
    SCOPED_TRACE(m.service + "/" + m.name);
    const auto* service = Pool().FindServiceByName(m.service);
    ASSERT_NE(service, nullptr);
    const auto* md = service->FindMethodByName(m.name);
    ASSERT_NE(md, nullptr);
    EXPECT_EQ(md->full_name(), m.service + "." + m.name);
    EXPECT_EQ(md->input_type()->full_name(), m.input);
    EXPECT_EQ(md->output_type()->full_name(), m.output);
    EXPECT_EQ(md->client_streaming(), m.client_streaming);
    EXPECT_EQ(md->server_streaming(), m.server_streaming);
  }
  EXPECT_EQ(Pool().FindServiceByName(kWs + "Websocket")->method_count(), 3);
  EXPECT_EQ(Pool().FindServiceByName(kWs + "WebsocketHandler")->method_count(), 1);
  EXPECT_EQ(Pool().FindServiceByName(kKv + "KvStore")->method_count(), 4);
  EXPECT_EQ(Pool().FindServiceByName(kRes + "Resources")->method_count(), 1);
}

TEST(ProtoDescriptor, GrpcMethodPathIsNitrics) {
  // The path on the wire; a wrong package or service name breaks every SDK.
  EXPECT_STREQ(nitric::proto::websockets::v1::WebsocketHandler::service_full_name(),
               "nitric.proto.websockets.v1.WebsocketHandler");
  EXPECT_STREQ(nitric::proto::kvstore::v1::KvStore::service_full_name(),
               "nitric.proto.kvstore.v1.KvStore");
  EXPECT_STREQ(nitric::proto::resources::v1::Resources::service_full_name(),
               "nitric.proto.resources.v1.Resources");
}

}  // namespace
