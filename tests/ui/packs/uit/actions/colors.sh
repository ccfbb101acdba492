#!/bin/sh
printf '\033[1;31mERROR\033[0m plain \033[32mok\033[0m\033[K\n'
printf 'user \342\200\256nimda\n'
printf '\033[33mwarning\033[0m on stderr\n' >&2
