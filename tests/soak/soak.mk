# make soak: ten minutes (SOAK_SECONDS to change) of mixed publishing and subscribing with churn
# against a crier that tests/soak/soak.py starts itself; prints RSS and open descriptors every
# SOAK_INTERVAL (10) seconds as a table and says whether they stayed flat after warm-up.
# Not part of make test. Included by the top Makefile.

SOAK_SECONDS  ?= 600
SOAK_INTERVAL ?= 10

.PHONY: soak

soak: $(BUILD)/crier
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_INTERVAL=$(SOAK_INTERVAL) CRIER_BIN=$(abspath $(BUILD)/crier) \
	    timeout $$(( $(SOAK_SECONDS) + 300 )) /usr/bin/python3 tests/soak/soak.py
