/* A shared object that never calls qvm_register_factory. */
int nofactory_marker(void) { return 42; }
