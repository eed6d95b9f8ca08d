#include "gw/policy/DryRun.h"

#include <map>

namespace gw::policy {

std::vector<ScriptChange> CompareSnapshots(const lua::SnapshotInfo& serving, const lua::SnapshotInfo& candidate) {
  std::map<std::string, const lua::ScriptInfo*> before;
  std::map<std::string, const lua::ScriptInfo*> after;
  for (const auto& s : serving.scripts) before[s.name] = &s;
  for (const auto& s : candidate.scripts) after[s.name] = &s;
  std::map<std::string, ScriptChange> changes;
  for (const auto& [name, now] : after) {
    auto it = before.find(name);
    if (it == before.end()) {
      changes[name] = {name, now->kind, "added", "", now->version};
    } else if (it->second->sha256 != now->sha256 || it->second->kind != now->kind ||
               it->second->version != now->version) {
      changes[name] = {name, now->kind, "changed", it->second->version, now->version};
    }
  }
  for (const auto& [name, old] : before) {
    if (after.count(name) == 0) changes[name] = {name, old->kind, "removed", old->version, ""};
  }
  std::vector<ScriptChange> out;
  out.reserve(changes.size());
  for (auto& [name, change] : changes) out.push_back(std::move(change));
  return out;
}

void WriteChanges(json::Writer& w, const std::vector<ScriptChange>& changes) {
  w.StartArray();
  for (const auto& c : changes) {
    w.StartObject();
    w.Key("name");
    w.String(c.name);
    w.Key("kind");
    w.String(c.kind);
    w.Key("change");
    w.String(c.change);
    if (!c.before.empty()) {
      w.Key("before");
      w.String(c.before);
    }
    if (!c.after.empty()) {
      w.Key("after");
      w.String(c.after);
    }
    w.EndObject();
  }
  w.EndArray();
}

void WriteDecision(json::Writer& w, const Decision& d) {
  w.StartObject();
  w.Key("allow");
  w.Bool(d.allow);
  w.Key("status");
  w.Int(d.allow ? 200 : d.status);
  if (!d.allow) {
    w.Key("code");
    w.String(d.code);
    if (!d.policy.empty()) {
      w.Key("policy");
      w.String(d.policy);
    }
  }
  if (!d.reason.empty()) {
    w.Key("reason");
    w.String(d.reason);
  }
  if (d.allow) {
    w.Key("target");
    w.String(d.target.empty() ? "primary" : d.target);
    if (!d.setHeaders.empty()) {
      w.Key("setHeaders");
      w.StartObject();
      for (const auto& [name, value] : d.setHeaders) {
        w.Key(name);
        w.String(value);
      }
      w.EndObject();
    }
    if (!d.removeHeaders.empty()) {
      w.Key("removeHeaders");
      w.StartArray();
      for (const auto& name : d.removeHeaders) w.String(name);
      w.EndArray();
    }
    if (d.minTokenSeconds.count() > 0) {
      w.Key("minTokenSeconds");
      w.Int(d.minTokenSeconds.count());
    }
  }
  w.EndObject();
}

std::string DescribeDecision(const Decision& d) {
  if (!d.allow) {
    return "deny " + std::to_string(d.status) + " " + d.code + (d.reason.empty() ? "" : ": " + d.reason);
  }
  std::string details = "target " + (d.target.empty() ? std::string("primary") : d.target);
  for (const auto& [name, value] : d.setHeaders) details += ", set " + name + ": " + value;
  for (const auto& name : d.removeHeaders) details += ", remove " + name;
  if (d.minTokenSeconds.count() > 0) details += ", token valid >= " + std::to_string(d.minTokenSeconds.count()) + " s";
  if (!d.reason.empty()) details += ", reason: " + d.reason;
  return "allow (" + details + ")";
}

}  // namespace gw::policy
