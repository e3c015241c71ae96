#include "tiebreak/data/options.h"

#include "tiebreak/data/error.h"

#include <nlohmann/json.hpp>

namespace tiebreak::data {

using nlohmann::json;

const char* to_string(Split split) { return split == Split::Train ? "train" : "test"; }

namespace {

const char* dtype_name(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return "float32";
    case torch::kFloat16:
      return "float16";
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kFloat64:
      return "float64";
    default:
      return "unsupported";
  }
}

torch::Dtype parse_dtype(const std::string& name) {
  if (name == "float32" || name == "float") return torch::kFloat32;
  if (name == "float16" || name == "half") return torch::kFloat16;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "float64" || name == "double") return torch::kFloat64;
  throw DataError("data.dtype: expected float32, float16, bfloat16 or float64, got \"" + name + "\"");
}

template <typename T>
T get_as(const json& value, const std::string& key, const char* expected) {
  try {
    return value.get<T>();
  } catch (const json::exception&) {
    throw DataError(c10::str("data.", key, ": expected ", expected, ", got ", value.dump()));
  }
}

void check_keys(const json& object, const std::string& where, std::initializer_list<const char*> known) {
  TIEBREAK_DATA_CHECK(object.is_object(), where, ": expected an object, got ", object.dump());
  for (const auto& item : object.items()) {
    bool ok = false;
    for (const char* k : known) ok = ok || item.key() == k;
    TIEBREAK_DATA_CHECK(ok, where, ".", item.key(), ": unknown key");
  }
}

}  // namespace

DataOptions data_options_from_json(const json& section) {
  check_keys(section, "data",
             {"name", "root", "train_batch_size", "test_batch_size", "shuffle", "augment", "drop_last",
              "seed", "device", "dtype", "files", "verify_checksums", "svhn_extra", "num_workers", "prefetch",
              "crop_size", "resize_size", "synthetic"});
  DataOptions o;
  auto positive = [](int64_t v, const char* key) {
    TIEBREAK_DATA_CHECK(v > 0, "data.", key, ": expected a positive integer, got ", v);
    return v;
  };
  if (section.contains("name")) o.name(get_as<std::string>(section["name"], "name", "a string"));
  if (section.contains("root")) o.root(get_as<std::string>(section["root"], "root", "a string"));
  for (const char* key :
       {"train_batch_size", "test_batch_size", "num_workers", "prefetch", "crop_size", "resize_size"}) {
    if (!section.contains(key)) continue;
    int64_t v = positive(get_as<int64_t>(section[key], key, "an integer"), key);
    std::string k = key;
    if (k == "train_batch_size") o.train_batch_size(v);
    if (k == "test_batch_size") o.test_batch_size(v);
    if (k == "num_workers") o.num_workers(v);
    if (k == "prefetch") o.prefetch(v);
    if (k == "crop_size") o.crop_size(v);
    if (k == "resize_size") o.resize_size(v);
  }
  if (section.contains("shuffle")) o.shuffle(get_as<bool>(section["shuffle"], "shuffle", "true or false"));
  if (section.contains("augment")) o.augment(get_as<bool>(section["augment"], "augment", "true or false"));
  if (section.contains("drop_last"))
    o.drop_last(get_as<bool>(section["drop_last"], "drop_last", "true or false"));
  if (section.contains("verify_checksums"))
    o.verify_checksums(get_as<bool>(section["verify_checksums"], "verify_checksums", "true or false"));
  if (section.contains("svhn_extra"))
    o.svhn_extra(get_as<bool>(section["svhn_extra"], "svhn_extra", "true or false"));
  if (section.contains("seed")) o.seed(get_as<uint64_t>(section["seed"], "seed", "a non-negative integer"));
  if (section.contains("device")) {
    auto name = get_as<std::string>(section["device"], "device", "a device string");
    try {
      o.device(torch::Device(name));
    } catch (const c10::Error&) {
      throw DataError("data.device: expected \"cpu\", \"cuda\" or \"cuda:N\", got \"" + name + "\"");
    }
  }
  if (section.contains("dtype"))
    o.dtype(parse_dtype(get_as<std::string>(section["dtype"], "dtype", "a string")));
  if (section.contains("files")) {
    const auto& files = section["files"];
    check_keys(files, "data.files", {"train", "test"});
    if (files.contains("train"))
      o.train_files(get_as<std::vector<std::string>>(files["train"], "files.train", "a list of file names"));
    if (files.contains("test"))
      o.test_files(get_as<std::vector<std::string>>(files["test"], "files.test", "a list of file names"));
  }
  if (section.contains("synthetic")) {
    const auto& s = section["synthetic"];
    check_keys(s, "data.synthetic", {"train_size", "test_size", "classes", "shape"});
    if (s.contains("train_size"))
      o.synthetic_train_size(positive(get_as<int64_t>(s["train_size"], "synthetic.train_size", "an integer"),
                                      "synthetic.train_size"));
    if (s.contains("test_size"))
      o.synthetic_test_size(positive(get_as<int64_t>(s["test_size"], "synthetic.test_size", "an integer"),
                                     "synthetic.test_size"));
    if (s.contains("classes"))
      o.synthetic_classes(
          positive(get_as<int64_t>(s["classes"], "synthetic.classes", "an integer"), "synthetic.classes"));
    if (s.contains("shape")) {
      auto shape = get_as<std::vector<int64_t>>(s["shape"], "synthetic.shape", "[C, H, W]");
      TIEBREAK_DATA_CHECK(shape.size() == 3 && shape[0] > 0 && shape[1] > 0 && shape[2] > 0,
                          "data.synthetic.shape: expected three positive sizes [C, H, W], got ",
                          s["shape"].dump());
      o.synthetic_shape(shape);
    }
  }
  return o;
}

json data_options_to_json(const DataOptions& o) {
  return json{{"name", o.name()},
              {"root", o.root()},
              {"train_batch_size", o.train_batch_size()},
              {"test_batch_size", o.test_batch_size()},
              {"shuffle", o.shuffle()},
              {"augment", o.augment()},
              {"drop_last", o.drop_last()},
              {"seed", o.seed()},
              {"device", o.device().str()},
              {"dtype", dtype_name(o.dtype())},
              {"files", {{"train", o.train_files()}, {"test", o.test_files()}}},
              {"verify_checksums", o.verify_checksums()},
              {"svhn_extra", o.svhn_extra()},
              {"num_workers", o.num_workers()},
              {"prefetch", o.prefetch()},
              {"crop_size", o.crop_size()},
              {"resize_size", o.resize_size()},
              {"synthetic",
               {{"train_size", o.synthetic_train_size()},
                {"test_size", o.synthetic_test_size()},
                {"classes", o.synthetic_classes()},
                {"shape", o.synthetic_shape()}}}};
}

}  // namespace tiebreak::data
