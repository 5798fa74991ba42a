// SentencePiece processors (the umT5 tokenizer) behind opaque handles. Built as its own library
// (libaptlab_spm) that does not link libtorch: see CMakeLists.txt. Same error convention as the shim.
#include <sentencepiece_processor.h>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#define API extern "C" __attribute__((visibility("default")))
static thread_local std::string last_error;
#define APT_TRY try {
#define APT_CATCH(fail) } catch (const std::exception& e) { last_error = e.what(); return fail; }

typedef sentencepiece::SentencePieceProcessor SP;
API const char* apt_sp_last_error() { return last_error.c_str(); }

API int apt_sp_available() { return 1; }
API SP* apt_sp_load(const char* path) {
  APT_TRY
  auto sp = new SP();
  auto status = sp->Load(path);
  if (!status.ok()) { delete sp; throw std::runtime_error(std::string(path) + ": " + status.ToString()); }
  return sp;
  APT_CATCH(nullptr)
}
API SP* apt_sp_load_bytes(const char* data, int64_t n) {
  APT_TRY
  auto sp = new SP();
  auto status = sp->LoadFromSerializedProto(std::string(data, (size_t)n));
  if (!status.ok()) { delete sp; throw std::runtime_error(status.ToString()); }
  return sp;
  APT_CATCH(nullptr)
}
API void apt_sp_free(SP* sp) { delete sp; }
API int apt_sp_vocab_size(SP* sp) { return sp->GetPieceSize(); }
API int apt_sp_special_id(SP* sp, int which) {
  switch (which) {
    case 0: return sp->pad_id();
    case 1: return sp->unk_id();
    case 2: return sp->bos_id();
    case 3: return sp->eos_id();
  }
  return -1;
}
API int apt_sp_piece_to_id(SP* sp, const char* piece) { return sp->PieceToId(piece); }
// Encodes UTF-8 text to ids; returns the count (may exceed capacity: call again with a larger buffer).
API int apt_sp_encode(SP* sp, const char* text, int* out, int capacity) {
  APT_TRY
  std::vector<int> ids;
  auto status = sp->Encode(text, &ids);
  if (!status.ok()) throw std::runtime_error(status.ToString());
  for (int i = 0; i < (int)ids.size() && i < capacity; i++) out[i] = ids[i];
  return (int)ids.size();
  APT_CATCH(-1)
}
// Decodes ids to UTF-8 into out; returns the byte count (may exceed capacity).
API int apt_sp_decode(SP* sp, const int* ids, int n, char* out, int capacity) {
  APT_TRY
  std::string text;
  auto status = sp->Decode(std::vector<int>(ids, ids + n), &text);
  if (!status.ok()) throw std::runtime_error(status.ToString());
  if ((int)text.size() <= capacity) memcpy(out, text.data(), text.size());
  return (int)text.size();
  APT_CATCH(-1)
}
