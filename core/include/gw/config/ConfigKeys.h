#pragma once
// The keys of each object of the `DicomWebOAuth` section, one table per object: name, type, range,
// and where the value goes (a member of the object's struct in GatewayConfig.h, whose initializer is
// the default). The parser reads every key with a target from its table; keys without one are read
// by the object's own code (checks across keys, paths, URLs, scripts). The same tables decide which
// keys are unknown or misplaced (CFG-004), and docs/configuration.md documents them (a unit test
// holds the two together: names, integer ranges and defaults).
//
// A server's other keys are its provider's (ProviderContracts.h): its contract's schema checks them.
//
// Immutable tables built once; safe to read from any thread.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "gw/config/GatewayConfig.h"

namespace gw::config {

// The objects of the section that have a fixed set of keys.
enum class KeyObject { Section, Audit, Health, Server, Resilience, Target };

enum class KeyType { Boolean, Integer, Number, String, Choice, File, StringArray, Object, Any };

// How an empty string is treated by a string reader.
enum class EmptyString {
  Allowed,
  Substitution,  // CFG-003: secrets and identifiers that usually come from ${VAR}
  Invalid        // CFG-002
};

// One key of an object whose struct is T.
template <class T>
struct KeySpec {
  // Where the value goes; monostate: read by the object's own code.
  using Target = std::variant<std::monostate, bool T::*, std::optional<bool> T::*, int T::*,
                              std::optional<int> T::*, double T::*, std::string T::*>;
  // Choice: the index of the value among `choices` (for enums; a string target takes the value).
  using ChoiceSetter = void (*)(T&, size_t);

  std::string name;
  KeyType type = KeyType::Any;
  Target target;
  double minimum = 0;                 // Integer, Number
  double maximum = 0;                 // Integer, Number
  bool minimumExclusive = false;      // Number: greater than minimum
  EmptyString empty = EmptyString::Allowed;  // String, File
  std::vector<std::string> choices;   // Choice: lower case, compared case-insensitively
  ChoiceSetter setChoice = nullptr;
};

const std::vector<KeySpec<GlobalConfig>>& SectionKeys();
const std::vector<KeySpec<AuditConfig>>& AuditKeys();
const std::vector<KeySpec<HealthConfig>>& HealthKeys();
const std::vector<KeySpec<ServerConfig>>& ServerKeys();
const std::vector<KeySpec<ResilienceConfig>>& ResilienceKeys();
const std::vector<KeySpec<UpstreamTarget>>& TargetKeys();

// The names of an object's table, in table order.
const std::vector<std::string>& KeyNames(KeyObject object);

// Where a key unknown in `here` (at JSON path `path`) belongs when it is a key of another object,
// as the end of a CFG-004 message ("belongs in the ResilienceConfig object of a server: ...");
// empty when it is no other object's key.
std::string Elsewhere(const std::string& key, const std::string& path, KeyObject here);

// The ProviderType values (lower case; the parser compares case-insensitively).
const std::vector<std::string>& ProviderTypes();

}  // namespace gw::config
