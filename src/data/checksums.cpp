#include "tiebreak/data/checksums.h"

#include "tiebreak/data/io.h"

namespace tiebreak::data {

namespace {
constexpr int64_t kIdxImages60k = 16 + 60000LL * 784, kIdxLabels60k = 8 + 60000;
constexpr int64_t kIdxImages10k = 16 + 10000LL * 784, kIdxLabels10k = 8 + 10000;
constexpr int64_t kCifar10Batch = 10000LL * 3073;
}  // namespace

const std::vector<KnownFile>& known_files() {
  // Sources: ../shared/data/README.md (MNIST, CIFAR-10 prefixes); the Fashion-MNIST and KMNIST
  // .gz SHA-256 and CIFAR-10/100 per-file SHA-256 as used by torchvision-ruby; SVHN MD5s as
  // published with torchvision; Fashion-MNIST uncompressed SHA-256 computed from Debian's
  // dataset-fashion-mnist (whose .gz differ from the originals only in the gzip header).
  static const std::vector<KnownFile> table = {
      {"mnist", "train-images-idx3-ubyte", kIdxImages60k, 60000,
       "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
       "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", "", ""},
      {"mnist", "train-labels-idx1-ubyte", kIdxLabels60k, 60000,
       "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
       "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", "", ""},
      {"mnist", "t10k-images-idx3-ubyte", kIdxImages10k, 10000,
       "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
       "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", "", ""},
      {"mnist", "t10k-labels-idx1-ubyte", kIdxLabels10k, 10000,
       "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
       "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", "", ""},
      {"fashion-mnist", "train-images-idx3-ubyte", kIdxImages60k, 60000,
       "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
       "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", "", ""},
      {"fashion-mnist", "train-labels-idx1-ubyte", kIdxLabels60k, 60000,
       "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
       "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", "", ""},
      {"fashion-mnist", "t10k-images-idx3-ubyte", kIdxImages10k, 10000,
       "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
       "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", "", ""},
      {"fashion-mnist", "t10k-labels-idx1-ubyte", kIdxLabels10k, 10000,
       "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
       "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", "", ""},
      {"kmnist", "train-images-idx3-ubyte", kIdxImages60k, 60000, "",
       "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4", "", ""},
      {"kmnist", "train-labels-idx1-ubyte", kIdxLabels60k, 60000, "",
       "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17", "", ""},
      {"kmnist", "t10k-images-idx3-ubyte", kIdxImages10k, 10000, "",
       "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5", "", ""},
      {"kmnist", "t10k-labels-idx1-ubyte", kIdxLabels10k, 10000, "",
       "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c", "", ""},
      {"cifar-10", "data_batch_1.bin", kCifar10Batch, 10000,
       "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5", "", "", ""},
      {"cifar-10", "data_batch_2.bin", kCifar10Batch, 10000,
       "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed", "", "", ""},
      {"cifar-10", "data_batch_3.bin", kCifar10Batch, 10000,
       "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67", "", "", ""},
      {"cifar-10", "data_batch_4.bin", kCifar10Batch, 10000,
       "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48", "", "", ""},
      {"cifar-10", "data_batch_5.bin", kCifar10Batch, 10000,
       "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add", "", "", ""},
      {"cifar-10", "test_batch.bin", kCifar10Batch, 10000,
       "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b", "", "", ""},
      {"cifar-10", "data_batch_1.first4000.bin", 4000LL * 3073, 4000,
       "0993cf8b8e43bc207603aef9787006995746513f5e3fa5a52e06d1b069926330", "", "", "data_batch_1.bin"},
      {"cifar-10", "test_batch.first1000.bin", 1000LL * 3073, 1000,
       "8314c96d7cd65618193bab23acdd5d4c4af15bf6dd00a1781d55beedf3be1ef5", "", "", "test_batch.bin"},
      {"cifar-100", "train.bin", 50000LL * 3074, 50000,
       "f31298fc616915fa142368359df1c4ca2ae984d6915ca468b998a5ec6aeebf29", "", "", ""},
      {"cifar-100", "test.bin", 10000LL * 3074, 10000,
       "d8b1e6b7b3bee4020055f0699b111f60b1af1e262aeb93a0b659061746f8224a", "", "", ""},
      {"svhn", "train_32x32.mat", 182040794, 73257, "", "", "e26dedcc434d2e4c54c9b2d4a06d8373", ""},
      {"svhn", "test_32x32.mat", 64275384, 26032, "", "", "eb5a983be6a315427106f1b164d9cef3", ""},
      {"svhn", "extra_32x32.mat", 0, 531131, "", "", "a93ce644f1a588dc4d68dda5feec44a7", ""},
  };
  return table;
}

const char* to_string(ChecksumCheck::Status status) {
  switch (status) {
    case ChecksumCheck::Status::Verified:
      return "verified";
    case ChecksumCheck::Status::VerifiedSubset:
      return "verified subset";
    case ChecksumCheck::Status::Mismatch:
      return "MISMATCH";
    case ChecksumCheck::Status::Unknown:
      return "no reference";
  }
  return "?";
}

ChecksumCheck check_known(const std::string& dataset, const std::filesystem::path& path,
                          int64_t uncompressed_bytes, const std::string& sha256,
                          const std::string& file_sha256, const std::string& file_md5) {
  ChecksumCheck result;
  const std::string name = uncompressed_name(path);
  const KnownFile* same_name = nullptr;
  for (const auto& known : known_files()) {
    if (known.dataset != dataset) continue;
    const bool content_match = (!known.sha256.empty() && known.sha256 == sha256) ||
                               (!known.gz_sha256.empty() && known.gz_sha256 == file_sha256) ||
                               (!known.md5.empty() && known.md5 == file_md5);
    if (content_match) {
      result.match = &known;
      if (known.subset_of.empty()) {
        result.status = ChecksumCheck::Status::Verified;
        result.detail = c10::str(path.string(), ": verified (", known.name, ")");
      } else {
        result.status = ChecksumCheck::Status::VerifiedSubset;
        result.detail = c10::str(path.string(), ": verified subset (", known.name, ": the first ",
                                 known.records, " records of ", known.subset_of, ")");
      }
      return result;
    }
    if (known.name == name && known.subset_of.empty()) same_name = &known;
  }
  if (same_name != nullptr) {
    // Only a file the size of the original can be a corrupt copy of it; a different size is
    // another (sub)set, whose structure the loaders check.
    const bool comparable = same_name->bytes == uncompressed_bytes &&
                            (!same_name->sha256.empty() || (!same_name->md5.empty() && !file_md5.empty()));
    if (comparable) {
      result.status = ChecksumCheck::Status::Mismatch;
      result.match = same_name;
      if (!same_name->sha256.empty()) {
        result.detail =
            c10::str(path.string(), ": SHA-256 of the content is ", sha256, ", expected ", same_name->sha256,
                     " for the original ", same_name->name, " (corrupt file?)");
      } else {
        result.detail = c10::str(path.string(), ": MD5 is ", file_md5, ", expected ", same_name->md5,
                                 " for the original ", same_name->name, " (corrupt file?)");
      }
      return result;
    }
  }
  result.detail = c10::str(path.string(), ": no reference checksum for this content");
  return result;
}

}  // namespace tiebreak::data
