from archprof.cli import run

run()
