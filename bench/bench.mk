# make bench: crier against Nchan on this machine, same run (bench/README.md).
# make bench-smoke: seconds against crier alone; fails on any lost, duplicated or reordered message.
# Included by the top Makefile; everything it builds goes to $(BUILD)/bench/.

BENCH_SRC := bench/loadgen.c bench/lg_util.c bench/lg_raw.c
BENCH_LG  := $(BUILD)/bench/loadgen
# Built without the sanitizers of a SANITIZE build: the load generator must never be the bottleneck.
BENCH_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O2 -Wall -Wextra -Wshadow -Wstrict-prototypes $(WERROR)

.PHONY: bench bench-smoke bench-profile bench-chaos

$(BENCH_LG): $(BENCH_SRC) bench/lg.h bench/bench.mk
	@mkdir -p $(dir $@)
	@echo "CC $@"
	$(Q)$(CC) $(BENCH_CFLAGS) -o $@ $(BENCH_SRC)

bench: deps $(BUILD)/crier $(BENCH_LG)
	/usr/bin/python3 bench/run-bench --crier $(BUILD)/crier --loadgen $(BENCH_LG)
	@$(MAKE) --no-print-directory bench-chaos

# The chaos test of resume at a larger setting than in make test: 3,000 subscribers over
# every streaming and polling mechanism, 300,000 messages on 200 channels.
bench-chaos: $(BUILD)/crier
	CHAOS_MESSAGES=300000 CHAOS_SUBSCRIBERS=3000 CHAOS_CHANNELS=200 CHAOS_DEADLINE=900 \
	    CRIER_BIN=$(abspath $(BUILD)/crier) /usr/bin/python3 -m pytest -q -s tests/integration/test_chaos.py \
	    -k test_chaos_resume

bench-profile: deps $(BUILD)/crier $(BENCH_LG)
	/usr/bin/python3 bench/run-bench --crier $(BUILD)/crier --loadgen $(BENCH_LG) --only fanout --profile \
	    --out bench/results/profile.json

bench-smoke: $(BUILD)/crier $(BENCH_LG)
	@timeout 120 /usr/bin/python3 bench/run-bench --smoke --crier $(BUILD)/crier --loadgen $(BENCH_LG)

# The smoke run is part of make test (correctness only, no timed assertion).
test: bench-smoke
