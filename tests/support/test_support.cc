// Anchor translation unit so the support library always has a source file.
namespace nitric::testing {
int support_library_anchor = 0;
}  // namespace nitric::testing
