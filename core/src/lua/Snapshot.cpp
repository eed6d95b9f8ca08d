#include "lua/Snapshot.h"

#include "gw/crypto/Hash.h"
#include "lua/EngineServices.h"
#include "lua/Library.h"

namespace gw::lua {

Result<std::shared_ptr<Snapshot>> Snapshot::Build(std::vector<ScriptSource> sources, std::string digest,
                                                  std::shared_ptr<EngineServices> services) {
  std::vector<ScriptMeta> scripts;
  {
    auto checked = ScriptState::Load(sources, scripts, ScriptState::Mode::Check, *services);
    if (!checked) return checked.GetError();
  }  // the throwaway state is closed here: self_test side effects never reach a serving state
  SnapshotInfo info;
  info.digest = std::move(digest);
  for (ScriptMeta& meta : scripts) {
    for (const ScriptSource& source : sources) {
      if (source.file == meta.info.file) meta.info.sha256 = crypto::Sha256Hex(source.text);
    }
    info.scripts.push_back(meta.info);
  }
  return std::make_shared<Snapshot>(std::move(sources), std::move(scripts), std::move(info), std::move(services));
}

Snapshot::Snapshot(std::vector<ScriptSource> sources, std::vector<ScriptMeta> scripts, SnapshotInfo info,
                   std::shared_ptr<EngineServices> services)
    : sources_(std::move(sources)),
      scripts_(std::move(scripts)),
      info_(std::move(info)),
      services_(std::move(services)),
      pool_(services_->Options().maxStatesPerSnapshot, [this]() {
        std::vector<ScriptMeta> expected = scripts_;  // Load compares, never modifies, in Pool mode
        return ScriptState::Load(sources_, expected, ScriptState::Mode::Pool, *services_);
      }) {
  for (size_t i = 0; i < scripts_.size(); ++i) byName_.emplace(scripts_[i].info.name, i);
}

void Snapshot::MarkPublished(uint64_t version, int64_t unixMs) {
  info_.version = version;
  info_.publishedAtUnixMs = unixMs;
}

std::optional<size_t> Snapshot::FindScript(std::string_view name) const {
  const auto it = byName_.find(name);
  if (it == byName_.end()) return std::nullopt;
  return it->second;
}

std::optional<size_t> Snapshot::FindFunction(size_t script, std::string_view function) const {
  if (scripts_[script].info.kind == kLibraryKind) return std::nullopt;  // used by scripts only
  const auto& functions = scripts_[script].functions;
  for (size_t i = 0; i < functions.size(); ++i) {
    if (functions[i] == function) return i;
  }
  return std::nullopt;
}

Status Snapshot::Call(size_t script, size_t function, const Argument& arg,
                      std::chrono::steady_clock::time_point deadline, rapidjson::Document& result,
                      StatePool::Slot** hint) {
  Result<StatePool::Lease> lease = pool_.Acquire(deadline, hint);
  if (!lease) return lease.GetError();
  return (*lease.Value()).Invoke(script, function, scripts_[script], arg, deadline, result);
}

Status Snapshot::Prewarm() { return Lease(std::chrono::steady_clock::now() + services_->Options().defaultBudget); }

Status Snapshot::Lease(std::chrono::steady_clock::time_point deadline) {
  Result<StatePool::Lease> lease = pool_.Acquire(deadline);
  if (!lease) return lease.GetError();
  return Status::Success();
}

}  // namespace gw::lua
