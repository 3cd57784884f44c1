#include "tools/mkimage/modorder.h"

#include <map>
#include <stdexcept>

#include "tools/mkimage/elf.h"

namespace mkimage {

std::string CanonicalModuleName(std::string_view name) {
  std::string s(name);
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

ModuleInfo ReadModinfo(std::string_view data, std::string_view fallback_name) {
  if (!IsElf(data)) throw std::runtime_error("not an ELF file");
  ElfInfo e = ParseElf(data);
  if (e.type != 1) throw std::runtime_error("not a relocatable object (ET_REL), so not a kernel module");
  auto strings = SectionStrings(data, ".modinfo");
  if (!strings) throw std::runtime_error("no .modinfo section, so not a kernel module");
  ModuleInfo m;
  for (const std::string& s : *strings) {
    if (s.rfind("name=", 0) == 0) {
      m.name = CanonicalModuleName(s.substr(5));
    } else if (s.rfind("depends=", 0) == 0) {
      std::string list = s.substr(8);
      size_t i = 0;
      while (i <= list.size()) {
        size_t c = list.find(',', i);
        if (c == std::string::npos) c = list.size();
        if (c > i) m.depends.push_back(CanonicalModuleName(list.substr(i, c - i)));
        i = c + 1;
      }
    }
  }
  if (m.name.empty()) m.name = CanonicalModuleName(fallback_name);
  return m;
}

std::vector<size_t> OrderModules(const std::vector<ModuleInfo>& mods) {
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < mods.size(); ++i) {
    auto [it, fresh] = by_name.emplace(mods[i].name, i);
    if (!fresh)
      throw std::runtime_error(mods[i].where + ": module '" + mods[i].name +
                               "' is already listed at " + mods[it->second].where);
  }
  for (const ModuleInfo& m : mods)
    for (const std::string& d : m.depends)
      if (!by_name.count(d))
        throw std::runtime_error(m.where + ": module '" + m.name + "' depends on '" + d +
                                 "', which is not a [module] of this image");
  // Depth-first, in input order; state 0 = new, 1 = on the stack, 2 = done.
  std::vector<int> state(mods.size(), 0);
  std::vector<size_t> order, stack;
  // Iterative DFS so that a long chain cannot overflow the C++ stack.
  for (size_t root = 0; root < mods.size(); ++root) {
    if (state[root]) continue;
    std::vector<std::pair<size_t, size_t>> work{{root, 0}};  // (module, next dep)
    state[root] = 1;
    stack.assign(1, root);
    while (!work.empty()) {
      auto& [m, next] = work.back();
      if (next < mods[m].depends.size()) {
        size_t d = by_name.at(mods[m].depends[next++]);
        if (state[d] == 1) {
          std::string cycle;
          bool on = false;
          for (size_t s : stack) {
            if (s == d) on = true;
            if (on) cycle += mods[s].name + " -> ";
          }
          cycle += mods[d].name;
          throw std::runtime_error(mods[d].where + ": module dependency cycle: " + cycle);
        }
        if (state[d] == 0) {
          state[d] = 1;
          stack.push_back(d);
          work.push_back({d, 0});
        }
      } else {
        state[m] = 2;
        order.push_back(m);
        stack.pop_back();
        work.pop_back();
      }
    }
  }
  return order;
}

}  // namespace mkimage
