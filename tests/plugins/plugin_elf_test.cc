// What the built plugin files contain: the C test plugin links no C++
// runtime, and no plugin has a symbol that would keep dlclose from
// unloading it (STB_GNU_UNIQUE) or exports more than its entry symbol.
// Reads the ELF dynamic section and symbol table directly.
#include <elf.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "plugin_test_support.h"

namespace nitric::host::testing {
namespace {

struct ElfInfo {
  std::vector<std::string> needed;          // DT_NEEDED
  std::vector<std::string> unique_symbols;  // STB_GNU_UNIQUE
  std::vector<std::string> exported;        // defined, global or weak, default visibility
};

ElfInfo ReadElf(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ElfInfo info;
  if (bytes.size() < sizeof(Elf64_Ehdr) || bytes.compare(0, 4,
                                                         "\x7f"
                                                         "ELF") != 0) {
    ADD_FAILURE() << path << " is not ELF";
    return info;
  }
  auto at = [&](size_t off) { return bytes.data() + off; };
  Elf64_Ehdr eh;
  std::memcpy(&eh, at(0), sizeof eh);
  std::vector<Elf64_Shdr> sections(eh.e_shnum);
  for (size_t i = 0; i < sections.size(); ++i) {
    std::memcpy(&sections[i], at(eh.e_shoff + i * eh.e_shentsize), sizeof(Elf64_Shdr));
  }
  auto str = [&](const Elf64_Shdr& strtab, size_t off) {
    return std::string(at(strtab.sh_offset + off));
  };
  for (const Elf64_Shdr& sh : sections) {
    if (sh.sh_type == SHT_DYNAMIC) {
      const Elf64_Shdr& strtab = sections[sh.sh_link];
      for (size_t off = 0; off + sizeof(Elf64_Dyn) <= sh.sh_size; off += sizeof(Elf64_Dyn)) {
        Elf64_Dyn dyn;
        std::memcpy(&dyn, at(sh.sh_offset + off), sizeof dyn);
        if (dyn.d_tag == DT_NEEDED) info.needed.push_back(str(strtab, dyn.d_un.d_val));
      }
    } else if (sh.sh_type == SHT_DYNSYM) {
      const Elf64_Shdr& strtab = sections[sh.sh_link];
      for (size_t off = 0; off + sizeof(Elf64_Sym) <= sh.sh_size; off += sizeof(Elf64_Sym)) {
        Elf64_Sym sym;
        std::memcpy(&sym, at(sh.sh_offset + off), sizeof sym);
        const std::string name = str(strtab, sym.st_name);
        if (ELF64_ST_BIND(sym.st_info) == STB_GNU_UNIQUE) info.unique_symbols.push_back(name);
        const int bind = ELF64_ST_BIND(sym.st_info);
        if (sym.st_shndx != SHN_UNDEF && sym.st_shndx != SHN_ABS && !name.empty() &&
            (bind == STB_GLOBAL || bind == STB_WEAK || bind == STB_GNU_UNIQUE) &&
            ELF64_ST_VISIBILITY(sym.st_other) == STV_DEFAULT) {
          info.exported.push_back(name);
        }
      }
    }
  }
  return info;
}

TEST(PluginElf, TheCPluginLinksNoCxxRuntime) {
  ElfInfo info = ReadElf(kTestPlugins / "ctest.so");
  ASSERT_FALSE(info.needed.empty());
  for (const std::string& lib : info.needed) {
    EXPECT_EQ(lib.find("stdc++"), std::string::npos) << lib;
    EXPECT_EQ(lib.find("libgcc_s"), std::string::npos) << lib;
  }
  // while the C++ twin does (so the check above is meaningful)
  ElfInfo twin = ReadElf(kTestPlugins / "cpptest.so");
  bool has_cxx = false;
  for (const std::string& lib : twin.needed) has_cxx |= lib.find("stdc++") != std::string::npos;
  EXPECT_TRUE(has_cxx);
}

TEST(PluginElf, PluginsExportOnlyTheEntryAndNoUniqueSymbols) {
  std::vector<fs::path> plugins;
  for (const fs::path& dir : {kTestPlugins, kTestPlugins / "unit", kExamplePlugins}) {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".so") plugins.push_back(e.path());
    }
  }
  ASSERT_GE(plugins.size(), 11u);
  for (const fs::path& plugin : plugins) {
    ElfInfo info = ReadElf(plugin);
    EXPECT_TRUE(info.unique_symbols.empty())
        << plugin << " has STB_GNU_UNIQUE symbols (dlclose would not unload it), e.g. "
        << info.unique_symbols.front();
    EXPECT_EQ(info.exported, std::vector<std::string>{"nitric_plugin_entry"}) << plugin;
  }
}

}  // namespace
}  // namespace nitric::host::testing
