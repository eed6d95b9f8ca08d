#include "gw/proxy/AnswerWriter.h"

#include "gw/proxy/HeaderPolicy.h"
#include "gw/proxy/ProxyErrors.h"

namespace gw::proxy {

namespace {

const std::string* Find(const http::Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

}  // namespace

bool AnswerWriter::OnHead(long status, const http::Headers& headers) {
  headSeen_ = true;
  status_ = status;
  // The DICOMweb plugin follows a redirect with every header of its definition, the loopback
  // secret included: a 3xx with Location would hand the secret (and with it the route and its
  // credential) to whatever host the upstream names. A 3xx without Location (304) is harmless.
  if (status >= 300 && status < 400 && Find(headers, "location") != nullptr) {
    failure_ = UpstreamRedirect(status);
    return false;
  }
  if (const std::string* ct = Find(headers, "content-type")) contentType_ = *ct;
  headers_ = HeaderPolicy::ResponseHeadersToReturn(headers);
  if (!HeaderPolicy::IsSafeValue(contentType_)) contentType_.clear();

  const std::string media = MultipartReader::MediaTypeOf(contentType_);
  if (status != 200 || (media != "multipart/related" && media != "multipart/mixed")) return true;

  const std::string* coding = Find(headers, "content-encoding");
  if (coding != nullptr && !coding->empty() && *coding != "identity") {
    failure_ = UpstreamMalformed("a multipart answer with Content-Encoding '" + *coding + "' cannot be streamed");
    return false;
  }
  auto boundary = MultipartReader::BoundaryOf(contentType_);
  if (!boundary) {
    failure_ = boundary.GetError();
    return false;
  }
  multipart_ = std::make_unique<MultipartReader>(boundary.Value(), limits_.maxPartBytes);
  subType_ = media.substr(std::string("multipart/").size());
  partType_ = MultipartReader::ParameterOf(contentType_, "type").value_or("");
  if (!HeaderPolicy::IsSafeValue(partType_) || partType_.find('"') != std::string::npos) partType_.clear();
  return true;
}

Status AnswerWriter::SendPart(MultipartReader::Part& part) {
  http::Headers headers = HeaderPolicy::PartHeadersToReturn(part.headers);
  if (!started_) {
    std::string type = partType_;
    if (type.empty()) {
      for (const auto& [k, v] : headers) {
        if (k == "content-type") type = MultipartReader::MediaTypeOf(v);
      }
    }
    if (type.empty()) type = "application/octet-stream";
    started_ = true;
    startedType_ = MultipartReader::MediaTypeOf(type);
    if (auto s = output_.StartMultipart(subType_, type); !s) {
      outputFailed_ = true;
      return s;
    }
  }
  if (auto s = output_.SendPart(headers, part.body); !s) {
    outputFailed_ = true;
    return s;
  }
  ++partsSent_;
  return Status::Success();
}

bool AnswerWriter::OnBody(std::string_view data) {
  bodyBytes_ += data.size();
  if (multipart_) {
    Status fed = multipart_->Feed(data, [this](MultipartReader::Part& part) { return SendPart(part); });
    if (!fed) {
      failure_ = fed.GetError();
      return false;
    }
    return true;
  }
  if (body_.size() + data.size() > limits_.maxBufferedBytes) {
    failure_ = UpstreamMalformed("answer larger than " + std::to_string(limits_.maxBufferedBytes) +
                                 " bytes that is not multipart (it would have to be held whole)");
    return false;
  }
  body_.append(data);
  return true;
}

AnswerWriter::Outcome AnswerWriter::Abort() {
  // Not when the output itself failed (the caller is gone): nothing more can be written then.
  if (multipart_ && !outputFailed_ && startedType_ == "application/dicom") {
    const std::string text = std::string(kAbortMarker) + " " + failure_->code +
                             ": the upstream answer broke off, this answer is incomplete (this part is not a DICOM "
                             "instance)\n";
    output_.SendPart({{"content-type", "application/dicom"}}, text);  // best effort: the caller may be gone
  }
  return Outcome::Broken;
}

AnswerWriter::Outcome AnswerWriter::Finish(const Result<long>& exchange) {
  if (!exchange.Ok() || !headSeen_) {
    Error error = failure_ ? *failure_
                           : (exchange.Ok() ? UpstreamMalformed("no answer") : exchange.GetError());
    failure_ = error;
    if (started_) return Abort();
    output_.SendError(error);
    return Outcome::Complete;
  }
  if (multipart_) {
    if (Status s = multipart_->Finish([this](MultipartReader::Part& part) { return SendPart(part); }); !s) {
      failure_ = s.GetError();
      if (started_) return Abort();
      output_.SendError(s.GetError());
      return Outcome::Complete;
    }
    if (!started_) {
      started_ = true;
      const std::string type = partType_.empty() ? "application/octet-stream" : partType_;
      if (Status s = output_.StartMultipart(subType_, type); !s) {
        failure_ = s.GetError();
        return Outcome::Broken;
      }
    }
    return Outcome::Complete;
  }
  started_ = true;
  if (Status s = output_.SendWhole(static_cast<int>(status_), headers_, contentType_, body_); !s) {
    failure_ = s.GetError();
    return Outcome::Broken;
  }
  return Outcome::Complete;
}

}  // namespace gw::proxy
