#!/usr/bin/env bash
# Checks that the names a document gives still exist in the tree, so a map
# such as docs/architecture.md cannot silently point at functions and files
# that were renamed, moved or split away.
#
#   scripts/check-doc-names.sh [DOC.md ...]      (default: docs/architecture.md)
#
# What it checks, in each document:
# - every `identifier()` written in backticks (inline or in a fenced block)
#   must occur as a whole word in some .c, .h or .cc file of the tree;
# - every inline backtick span that is a single repository path (`lib/io/io.h`,
#   `proxy/l7/`) must exist; a bare file name (`svcd.c`) or folder name
#   (`dataplane/`) must be the name of some file or folder in the tree;
# - every inline backtick span stays on one line (a span split over two lines
#   would not be checked);
# - every relative Markdown link target ([text](../README.md)) must exist,
#   relative to the document.
# Not paths: spans with spaces, absolute paths, `build/...` (generated), and
# anything with placeholder or shell characters (`<name>`, `*`, `:`, `=`).
# A document may exempt names on a line of its own:
#   <!-- check-doc-names: ignore report.json events.jsonl -->
#
# Prints every name it could not find with the document and line, and exits
# 1 when there is one; prints a one-line summary and exits 0 otherwise.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ $# -eq 0 ]; then
	set -- docs/architecture.md
fi

src_has_word() {
	grep -rqw --include='*.c' --include='*.h' --include='*.cc' \
		--exclude-dir='build*' --exclude-dir=.git -e "$1" .
}

# A bare name: some file (or, for `name/`, some folder) of the tree has it.
tree_has_basename() {
	local type=f name=$1
	if [[ $name == */ ]]; then
		type=d
		name=${name%/}
	fi
	[ -n "$(find . \( -path './build*' -o -path './.git' \) -prune -o \
		-type "$type" -name "$name" -print -quit)" ]
}

# A single-token span that names a repository path: prints the path to test
# (a bare file name is printed as is), or nothing.
path_of_span() {
	local s=$1
	case $s in
	'' | /* | '~'* | -* | *' '* | *'<'* | *'>'* | *'*'* | *'{'* | *'}'* | *'$'* | *:* | *=* | \
		*'?'* | *,* | *';'* | *'('* | *')'* | *'"'* | *"'"* | *...* | *'|'* | *'@'* | *'['* | *']'*)
		return 0 ;;
	esac
	s=${s#./}
	case $s in
	build/* | build) return 0 ;;
	esac
	if [[ $s =~ ^[A-Za-z0-9_.+-]+/$ ]]; then
		# a folder by its own name (`dataplane/`), wherever it is
		printf '%s\n' "$s"
	elif [[ $s == */* ]]; then
		local first=${s%%/*}
		# `100.64.0.0/10` and the like are not paths.
		[[ $first =~ [A-Za-z] ]] || return 0
		[[ $s =~ ^[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*/?$ ]] || return 0
		printf '%s\n' "$s"
	elif [[ $s =~ ^[A-Za-z0-9_.+-]+\.(c|h|cc|md|sh|py|yaml|json|txt|cmake)$ ]]; then
		printf '%s\n' "$s"
	fi
}

missing=0
n_funcs=0
n_paths=0
n_links=0
report() {
	printf '%s\n' "$1"
	missing=$((missing + 1))
}

for doc in "$@"; do
	if [ ! -f "$doc" ]; then
		report "$doc: no such document"
		continue
	fi
	docdir=$(dirname "$doc")
	ignore=" $(sed -n 's/^<!-- check-doc-names: ignore \(.*\) -->$/\1/p' "$doc" | tr '\n' ' ') "

	# One line per mention: LINE<TAB>KIND<TAB>TEXT, KIND = span | fenced | link.
	mentions=$(awk '
		/^[ \t]*```/ { fenced = !fenced; next }
		fenced {
			line = $0
			while (match(line, /[A-Za-z_][A-Za-z0-9_]*\(\)/)) {
				printf "%d\tfenced\t%s\n", NR, substr(line, RSTART, RLENGTH)
				line = substr(line, RSTART + RLENGTH)
			}
			next
		}
		{
			line = $0
			if (gsub(/`/, "`", line) % 2)
				printf "%d\tsplit\t\n", NR
			while (match(line, /`[^`]+`/)) {
				printf "%d\tspan\t%s\n", NR, substr(line, RSTART + 1, RLENGTH - 2)
				line = substr(line, RSTART + RLENGTH)
			}
			line = $0
			while (match(line, /\]\([^)]+\)/)) {
				printf "%d\tlink\t%s\n", NR, substr(line, RSTART + 2, RLENGTH - 3)
				line = substr(line, RSTART + RLENGTH)
			}
		}' "$doc")

	declare -A seen_func=() seen_path=()
	while IFS=$'\t' read -r line kind text; do
		[ -n "${line:-}" ] || continue
		case $kind in
		span | fenced)
			while read -r f; do
				[ -n "$f" ] || continue
				f=${f%()}
				[[ $ignore == *" $f() "* || $ignore == *" $f "* ]] && continue
				if [ -z "${seen_func[$f]+x}" ]; then
					seen_func[$f]=1
					n_funcs=$((n_funcs + 1))
					src_has_word "$f" || seen_func[$f]=0
				fi
				[ "${seen_func[$f]}" = 1 ] ||
					report "$doc:$line: \`$f()\` is in no .c, .h or .cc file"
			done < <(grep -oE '[A-Za-z_][A-Za-z0-9_]*\(\)' <<<"$text" || true)
			[ "$kind" = span ] || continue
			p=$(path_of_span "$text")
			[ -n "$p" ] || continue
			[[ $ignore == *" $p "* ]] && continue
			if [ -z "${seen_path[$p]+x}" ]; then
				seen_path[$p]=1
				n_paths=$((n_paths + 1))
				if [[ $p == */* && ! $p =~ ^[^/]+/$ ]]; then
					[ -e "$p" ] || seen_path[$p]=0
				else
					tree_has_basename "$p" || seen_path[$p]=0
				fi
			fi
			[ "${seen_path[$p]}" = 1 ] || report "$doc:$line: \`$p\` is not in the tree"
			;;
		split)
			report "$doc:$line: a backtick span continues on the next line (keep it on one line)"
			;;
		link)
			target=${text%%#*}
			case $target in
			'' | http://* | https://* | mailto:*) continue ;;
			esac
			n_links=$((n_links + 1))
			[ -e "$docdir/$target" ] || report "$doc:$line: link ($target) is not in the tree"
			;;
		esac
	done <<<"$mentions"
	unset seen_func seen_path
done

if [ "$missing" -gt 0 ]; then
	printf 'check-doc-names: %d name(s) not found or unchecked\n' "$missing"
	exit 1
fi
printf 'check-doc-names: ok (%d functions, %d paths, %d links in %d document(s))\n' \
	"$n_funcs" "$n_paths" "$n_links" "$#"
