# make bench: crier against Nchan on this machine, same run (bench/README.md).
# make bench-smoke: seconds against crier alone; fails on any lost, duplicated or reordered message.
# Included by the top Makefile; everything it builds goes to $(BUILD)/bench/.

BENCH_SRC := bench/loadgen.c bench/lg_util.c bench/lg_raw.c
BENCH_LG  := $(BUILD)/bench/loadgen
# Built without the sanitizers of a SANITIZE build: the load generator must never be the bottleneck.
BENCH_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O2 -Wall -Wextra -Wshadow -Wstrict-prototypes $(WERROR)

.PHONY: bench bench-smoke bench-profile

$(BENCH_LG): $(BENCH_SRC) bench/lg.h bench/bench.mk
	@mkdir -p $(dir $@)
	@echo "CC $@"
	$(Q)$(CC) $(BENCH_CFLAGS) -o $@ $(BENCH_SRC)

bench: deps $(BUILD)/crier $(BENCH_LG)
	/usr/bin/python3 bench/run-bench --crier $(BUILD)/crier --loadgen $(BENCH_LG)

bench-profile: deps $(BUILD)/crier $(BENCH_LG)
	/usr/bin/python3 bench/run-bench --crier $(BUILD)/crier --loadgen $(BENCH_LG) --only fanout --profile \
	    --out bench/results/profile.json

bench-smoke: $(BUILD)/crier $(BENCH_LG)
	@timeout 120 /usr/bin/python3 bench/run-bench --smoke --crier $(BUILD)/crier --loadgen $(BENCH_LG)

# The smoke run is part of make test (correctness only, no timed assertion).
test: bench-smoke
