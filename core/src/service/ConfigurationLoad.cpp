#include "gw/service/ConfigurationLoad.h"

#include <memory>

#include "gw/config/ConfigLoader.h"
#include "gw/http/CurlHttpClient.h"
#include "gw/service/KeyVaultResolver.h"
#include "gw/service/ProviderAccess.h"

namespace gw::service {

LoadedConfiguration LoadConfiguration(const ConfigurationSource& source) {
  LoadedConfiguration out;
  config::ParseOptions options;
  options.scriptDirectoriesOverride = source.scriptDirectories;
  // keyvault: references, read with the host's managed identity; env:, file: and literal: are built in.
  options.secretResolvers["keyvault"] = MakeKeyVaultResolver(std::make_shared<http::CurlHttpClient>());
  // Provider keys against each provider script's contract, within the one parse.
  options.loadContracts = LoadProviderContracts;

  config::LoadResult files;
  if (!source.path.empty()) {
    files = config::ConfigLoader::Load(source.path, config::ProcessEnvironment());
    options.baseDirectory = files.baseDirectory;
    options.variables = &files.variables;
  }
  std::shared_ptr<rapidjson::Document> document;
  if (source.text) {
    // Orthanc has read the files already: only its text counts, the files give names to ${VAR}s.
    document = config::ConfigLoader::ParseText(*source.text, "Orthanc configuration", out.readProblems);
  } else {
    out.readProblems = files.diagnostics;
    document = files.document;
  }
  if (!document) return out;
  out.read = true;
  out.parsed = config::ConfigParser::Parse(*document, options);
  return out;
}

}  // namespace gw::service
