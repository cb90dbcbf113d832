// What the host declares, compared with what the Nitric SDKs send.
#include "host/membrane/declare.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include "nitric/plugin.h"

namespace nitric::host {
namespace {

std::string Text(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::TextFormat::PrintToString(m, &out);
  return out;
}

TEST(DeclareTest, WebsocketThenItsPolicyThenStoresWithTheirActions) {
  Declarations d;
  d.sockets = {"public"};
  d.stores = {{"connections", NITRIC_KV_GET | NITRIC_KV_SET | NITRIC_KV_DELETE},
              {"readonly", NITRIC_KV_GET}};
  const auto requests = DeclareRequests(d);
  ASSERT_EQ(requests.size(), 6u);
  EXPECT_EQ(Text(requests[0]), "id {\n  type: Websocket\n  name: \"public\"\n}\n");
  // Empty names ("" for the policy and its principal) are proto3 defaults.
  EXPECT_EQ(Text(requests[1]),
            "id {\n  type: Policy\n}\npolicy {\n  principals {\n    type: Service\n  }\n"
            "  actions: WebsocketManage\n  resources {\n    type: Websocket\n"
            "    name: \"public\"\n  }\n}\n");
  EXPECT_EQ(Text(requests[2]),
            "id {\n  type: KeyValueStore\n  name: \"connections\"\n}\nkey_value_store {\n}\n");
  EXPECT_EQ(requests[3].policy().actions_size(), 3);
  EXPECT_EQ(requests[3].policy().actions(0), proto::resources::v1::KeyValueStoreRead);
  EXPECT_EQ(requests[3].policy().actions(1), proto::resources::v1::KeyValueStoreWrite);
  EXPECT_EQ(requests[3].policy().actions(2), proto::resources::v1::KeyValueStoreDelete);
  EXPECT_EQ(requests[3].policy().resources(0).type(), proto::resources::v1::KeyValueStore);
  EXPECT_EQ(requests[3].policy().resources(0).name(), "connections");
  EXPECT_EQ(requests[5].policy().actions_size(), 1);
  EXPECT_EQ(requests[5].policy().actions(0), proto::resources::v1::KeyValueStoreRead);
}

}  // namespace
}  // namespace nitric::host
