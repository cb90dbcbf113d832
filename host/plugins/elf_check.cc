#include "host/plugins/elf_check.h"

#include <elf.h>

#include <cstring>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <nitric/plugin.h>

namespace nitric::host {
namespace {

#if defined(__x86_64__)
constexpr int kMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr int kMachine = EM_AARCH64;
#else
constexpr int kMachine = -1;  // unknown: leave the machine check to dlopen
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr unsigned char kData = ELFDATA2LSB;
#else
constexpr unsigned char kData = ELFDATA2MSB;
#endif

}  // namespace

Status CheckSharedObject(std::string_view bytes) {
  const auto refuse = [](std::string why) {
    return Status(NITRIC_ERR_INVALID_ARGUMENT, std::move(why));
  };
  if (bytes.size() < EI_NIDENT || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0) {
    return refuse("it is not an ELF file");
  }
  if (static_cast<unsigned char>(bytes[EI_CLASS]) != ELFCLASS64 ||
      static_cast<unsigned char>(bytes[EI_DATA]) != kData) {
    return refuse("it is a 32-bit or other-endian ELF file; this host needs a 64-bit one");
  }
  if (bytes.size() < sizeof(Elf64_Ehdr)) {
    return refuse(
        fmt::format("the file is truncated: {} bytes, shorter than an ELF header", bytes.size()));
  }
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof eh);
  if (eh.e_type != ET_DYN)
    return refuse(fmt::format("it is an ELF file of type {}, not a shared library", eh.e_type));
  if (kMachine >= 0 && eh.e_machine != kMachine) {
    return refuse(fmt::format("it is built for another machine (ELF machine {})", eh.e_machine));
  }
  if (eh.e_phentsize != sizeof(Elf64_Phdr)) return refuse("its program header size is wrong");
  const uint64_t ph_end = eh.e_phoff + static_cast<uint64_t>(eh.e_phnum) * sizeof(Elf64_Phdr);
  if (eh.e_phoff > bytes.size() || ph_end > bytes.size()) {
    return refuse(fmt::format("the file is truncated: program headers end at byte {} of {}", ph_end,
                              bytes.size()));
  }
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, bytes.data() + eh.e_phoff + i * sizeof(Elf64_Phdr), sizeof ph);
    if (ph.p_filesz == 0) continue;
    const uint64_t end = ph.p_offset + ph.p_filesz;
    if (end < ph.p_offset || end > bytes.size()) {
      return refuse(fmt::format("the file is truncated: segment {} ends at byte {} of {}", i, end,
                                bytes.size()));
    }
  }
  return Status();
}

std::optional<AbiNote> ReadAbiNote(std::string_view bytes) {
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof eh);
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, bytes.data() + eh.e_phoff + i * sizeof(Elf64_Phdr), sizeof ph);
    if (ph.p_type != PT_NOTE) continue;
    // Entries are padded to the segment's alignment: 4, or 8 for segments
    // such as .note.gnu.property.
    const uint64_t align = ph.p_align == 8 ? 8 : 4;
    const auto pad = [align](uint64_t n) { return (n + align - 1) & ~(align - 1); };
    const std::string_view segment = bytes.substr(ph.p_offset, ph.p_filesz);
    uint64_t at = 0;
    while (segment.size() - at >= sizeof(Elf64_Nhdr)) {
      Elf64_Nhdr nh;
      std::memcpy(&nh, segment.data() + at, sizeof nh);
      const uint64_t name_at = at + sizeof nh;
      const uint64_t desc_at = name_at + pad(nh.n_namesz);
      const uint64_t next = desc_at + pad(nh.n_descsz);
      if (nh.n_namesz > segment.size() || nh.n_descsz > segment.size() || next > segment.size()) {
        break;  // malformed: stop reading this segment
      }
      if (nh.n_type == NITRIC_ABI_NOTE_TYPE && nh.n_namesz == sizeof NITRIC_ABI_NOTE_NAME &&
          nh.n_descsz == 2 * sizeof(uint32_t) &&
          std::memcmp(segment.data() + name_at, NITRIC_ABI_NOTE_NAME, nh.n_namesz) == 0) {
        AbiNote note;
        std::memcpy(&note.major, segment.data() + desc_at, sizeof note.major);
        std::memcpy(&note.minor, segment.data() + desc_at + sizeof note.major, sizeof note.minor);
        return note;
      }
      at = next;
    }
  }
  return std::nullopt;
}

}  // namespace nitric::host
