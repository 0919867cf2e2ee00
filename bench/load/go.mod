module prisn.invalid/bench/load

go 1.22
