#!/bin/sh
# One job of shapes.toml: draws a shape as an SVG file in the job's folder
# ($RC_JOB_DIR) and prints its results as JSON. The collector moves the
# file into its media folder.
set -eu
size=$RC_SIZE
case "$RC_SHAPE" in
circle)
    body="<circle cx=\"50\" cy=\"50\" r=\"$((size / 2))\" fill=\"$RC_COLOR\"/>"
    area=$((314 * size * size / 400))
    ;;
square)
    half=$((size / 2))
    body="<rect x=\"$((50 - half))\" y=\"$((50 - half))\" width=\"$size\" height=\"$size\" fill=\"$RC_COLOR\"/>"
    area=$((size * size))
    ;;
*)
    echo "unknown shape: $RC_SHAPE" >&2
    exit 2
    ;;
esac
printf '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">%s</svg>\n' "$body" \
    >"$RC_JOB_DIR/shape.svg"
printf '{"area": %s, "plot": "shape.svg"}\n' "$area"
