# Every folder vdev/NAME/ (except lib*/) builds vdev-NAME.so from
# its .c and .cc files. Plug-ins see only the public SDK header (sdk/include).
VDEVS := $(sort $(filter-out lib%,$(notdir $(patsubst %/,%,$(dir $(wildcard vdev/*/*.c vdev/*/*.cc))))))

VDEV_CFLAGS   = -std=c11 $(OPT) $(WARN) $(DEPFLAGS) -Isdk/include -fPIC -fvisibility=hidden $(CFLAGS)
VDEV_CXXFLAGS = $(CXXSTD) $(OPT) $(WARN) $(DEPFLAGS) -Isdk/include -fPIC -fvisibility=hidden $(CXXFLAGS)

$(OBJ)/vdev/%.pic.o: vdev/%.c
	@mkdir -p $(dir $@)
	$(CC) $(VDEV_CFLAGS) -c $< -o $@
$(OBJ)/vdev/%.pic.o: vdev/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(VDEV_CXXFLAGS) -c $< -o $@

define vdev_rule
$(VDEVDIR)/vdev-$(1).so: $(patsubst vdev/%,$(OBJ)/vdev/%.pic.o,$(basename $(wildcard vdev/$(1)/*.c vdev/$(1)/*.cc)))
	@mkdir -p $$(dir $$@)
	$$(CXX) -shared -o $$@ $$^
endef
$(foreach v,$(VDEVS),$(eval $(call vdev_rule,$(v))))
include vdev/libvirtio/module.mk
include vdev/libshm/module.mk
include vdev/shmem/linux/module.mk
