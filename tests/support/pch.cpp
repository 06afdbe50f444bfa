// The target that compiles the test suite's precompiled header once for every
// test executable (tests/CMakeLists.txt); it runs nothing.
int main() { return 0; }
