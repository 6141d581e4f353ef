package injector

func setNonblock(int) {}
