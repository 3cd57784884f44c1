// qvm-mkimage: builds a bootable system image (host kernel + initramfs) from
// a buildfile. See tools/README.md for the buildfile format.
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "tools/mkimage/buildfile.h"
#include "tools/mkimage/image.h"

namespace {

void Usage(FILE* f) {
  std::fprintf(f,
               "usage: qvm-mkimage [-o OUTDIR | --outroot DIR] [-n] [--list] [NAME=VALUE ...] BUILDFILE\n"
               "  -o OUTDIR      write the image files into OUTDIR\n"
               "  --outroot DIR  write them into DIR/<image name> (default build/image)\n"
               "  -n             check the buildfile and every input, write nothing\n"
               "  --list         print the image's contents and module load order\n"
               "  NAME=VALUE     set a buildfile variable (wins over the buildfile's own value)\n"
               "Writes initramfs.cpio.gz, bzImage (x86_64) or Image (aarch64) when the\n"
               "buildfile names a [kernel=...], and manifest.txt.\n");
}

std::string ImageName(const std::string& buildfile) {
  std::string b = mkimage::BaseName(buildfile);
  if (b.size() > 6 && b.substr(b.size() - 6) == ".build") b.resize(b.size() - 6);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  std::string outdir, outroot = "build/image", buildfile;
  bool dry = false, list = false;
  std::map<std::string, std::string> vars;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-o" || a == "--outroot") && i + 1 < argc) {
      (a == "-o" ? outdir : outroot) = argv[++i];
    } else if (a == "-n") {
      dry = true;
    } else if (a == "--list") {
      list = true;
    } else if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "qvm-mkimage: unknown option '%s'\n", a.c_str());
      Usage(stderr);
      return 2;
    } else if (size_t eq = a.find('='); eq != std::string::npos && eq > 0) {
      vars[a.substr(0, eq)] = a.substr(eq + 1);
    } else if (buildfile.empty()) {
      buildfile = a;
    } else {
      Usage(stderr);
      return 2;
    }
  }
  if (buildfile.empty()) {
    Usage(stderr);
    return 2;
  }
  try {
    mkimage::BuildSpec spec = mkimage::ParseBuildfile(buildfile, vars);
    std::string name = spec.name.empty() ? ImageName(buildfile) : spec.name;
    if (outdir.empty()) outdir = outroot + "/" + name;
    mkimage::Image image(std::move(spec));
    image.Assemble();
    if (list) std::fputs(image.Manifest().c_str(), stdout);
    if (!dry) image.Write(outdir);
  } catch (const mkimage::BuildError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qvm-mkimage: %s\n", e.what());
    return 1;
  }
  return 0;
}
