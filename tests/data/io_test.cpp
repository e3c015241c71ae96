#include "tiebreak/data/io.h"
#include "data/fixtures.h"
#include "support/test_support.h"
#include "tiebreak/data/error.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tiebreak::data {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

std::vector<uint8_t> sample_bytes(size_t n) {
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  return b;
}

TEST(DataIo, ReadsRawAndGzippedAlike) {
  TempDir tmp;
  auto bytes = sample_bytes(3 * 1024 * 1024 + 17);  // crosses the 1 MiB read chunks
  testing::write_bytes(tmp / "raw.bin", bytes);
  testing::write_bytes(tmp / "packed.bin.gz", bytes, /*gzip=*/true);
  EXPECT_FALSE(is_gzip_file(tmp / "raw.bin"));
  EXPECT_TRUE(is_gzip_file(tmp / "packed.bin.gz"));
  EXPECT_EQ(read_file_bytes(tmp / "raw.bin"), bytes);
  EXPECT_EQ(read_file_bytes(tmp / "packed.bin.gz"), bytes);
}

TEST(DataIo, ReadsConcatenatedGzipMembers) {
  TempDir tmp;
  auto a = sample_bytes(1000), b = sample_bytes(500);
  testing::write_bytes(tmp / "a.gz", a, true);
  testing::write_bytes(tmp / "b.gz", b, true);
  auto joined = testing::read_raw_bytes(tmp / "a.gz");
  auto second = testing::read_raw_bytes(tmp / "b.gz");
  joined.insert(joined.end(), second.begin(), second.end());
  testing::write_bytes(tmp / "ab.gz", joined);
  auto expected = a;
  expected.insert(expected.end(), b.begin(), b.end());
  EXPECT_EQ(read_file_bytes(tmp / "ab.gz"), expected);
}

TEST(DataIo, TruncatedGzipIsAnErrorNamingTheFile) {
  TempDir tmp;
  testing::write_bytes(tmp / "x.gz", sample_bytes(200000), true);
  auto packed = testing::read_raw_bytes(tmp / "x.gz");
  packed.resize(packed.size() / 2);
  testing::write_bytes(tmp / "cut.gz", packed);
  try {
    read_file_bytes(tmp / "cut.gz");
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr((tmp / "cut.gz").string()));
    EXPECT_THAT(e.what(), HasSubstr("truncated"));
  }
  EXPECT_THROW(digest_file(tmp / "cut.gz"), DataError);
}

TEST(DataIo, CorruptGzipIsAnError) {
  TempDir tmp;
  testing::write_bytes(tmp / "x.gz", sample_bytes(100000), true);
  auto packed = testing::read_raw_bytes(tmp / "x.gz");
  packed[packed.size() - 6] ^= 0xff;  // inside the CRC-32 trailer
  testing::write_bytes(tmp / "bad.gz", packed);
  EXPECT_THROW(read_file_bytes(tmp / "bad.gz"), DataError);
}

TEST(DataIo, MissingFileIsAnErrorNamingIt) {
  TempDir tmp;
  try {
    read_file_bytes(tmp / "nope.bin");
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_THAT(e.what(), HasSubstr("nope.bin"));
    EXPECT_THAT(e.what(), HasSubstr("not found"));
  }
}

TEST(DataIo, DigestsMatchKnownVectors) {
  const std::string abc = "abc";
  auto* p = reinterpret_cast<const uint8_t*>(abc.data());
  // FIPS 180-2 and RFC 1321 test vectors.
  EXPECT_EQ(sha256_hex(p, 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(md5_hex(p, 3), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(sha256_hex(nullptr, 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(DataIo, DigestFileHashesContentAndStoredBytes) {
  TempDir tmp;
  auto bytes = sample_bytes(70000);
  testing::write_bytes(tmp / "raw", bytes);
  testing::write_bytes(tmp / "z.gz", bytes, true);
  auto raw = digest_file(tmp / "raw");
  auto gz = digest_file(tmp / "z.gz");
  EXPECT_EQ(raw.sha256, sha256_hex(bytes));
  EXPECT_EQ(gz.sha256, raw.sha256);  // content checksum ignores the compression
  EXPECT_EQ(raw.uncompressed_bytes, 70000);
  EXPECT_EQ(gz.uncompressed_bytes, 70000);
  EXPECT_FALSE(raw.gzipped);
  EXPECT_TRUE(gz.gzipped);
  EXPECT_EQ(raw.file_sha256, raw.sha256);
  auto stored = testing::read_raw_bytes(tmp / "z.gz");
  EXPECT_EQ(gz.file_sha256, sha256_hex(stored));
  EXPECT_EQ(gz.file_md5, md5_hex(stored.data(), stored.size()));
  EXPECT_EQ(raw.file_md5, md5_hex(bytes.data(), bytes.size()));
}

TEST(DataIo, FindsRawBeforeGzip) {
  TempDir tmp;
  EXPECT_TRUE(find_maybe_gz(tmp.path(), "f").empty());
  testing::write_bytes(tmp / "f.gz", {1}, true);
  EXPECT_EQ(find_maybe_gz(tmp.path(), "f"), tmp / "f.gz");
  testing::write_bytes(tmp / "f", {1});
  EXPECT_EQ(find_maybe_gz(tmp.path(), "f"), tmp / "f");
  EXPECT_EQ(uncompressed_name(tmp / "t10k-images-idx3-ubyte.gz"), "t10k-images-idx3-ubyte");
  EXPECT_EQ(uncompressed_name(tmp / "test.bin"), "test.bin");
}

}  // namespace
}  // namespace tiebreak::data
