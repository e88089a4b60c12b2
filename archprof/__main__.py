from archprof.cli_process import run

run()
