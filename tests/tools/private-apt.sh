# shellcheck shell=bash
# Sourced by qemu10.sh and linux61.sh: apt run with a private sources list
# and private state under the cache folder $DIR (its own lists and archive
# folders), so that the machine's apt configuration, package lists and
# installed packages stay as they were; packages are unpacked with
# dpkg-deb -x, never installed. The sourcing script sets ME, DIR, SUITE and
# KEYRING first.

die() {
    echo "$ME: $*" >&2
    exit 1
}

# apt-get and apt-cache with everything private to the cache folder.
private_apt() {
    local tool=$1
    shift
    "$tool" -q \
        -o Dir::Etc::sourcelist="$DIR/apt/sources.list" \
        -o Dir::Etc::sourceparts="$DIR/apt/sources.list.d" \
        -o Dir::Etc::preferencesparts="$DIR/apt/preferences.d" \
        -o Dir::State::Lists="$DIR/apt/lists" \
        -o Dir::Cache="$DIR/apt/cache" \
        -o APT::Sandbox::User=root \
        "$@" </dev/null
}

# The system's own Debian archive: the repository its bookworm suite comes
# from, or $POKETORTURE_DEBIAN_MIRROR.
system_mirror() {
    if [[ -n ${POKETORTURE_DEBIAN_MIRROR:-} ]]; then
        echo "$POKETORTURE_DEBIAN_MIRROR"
        return
    fi
    # shellcheck disable=SC2016 # apt's own $(FIELD) syntax, not the shell's
    apt-get indextargets --format '$(REPO_URI) $(CODENAME)' 2>/dev/null |
        awk '$2 == "bookworm" && $1 !~ /security/ {print $1; exit}'
}

setup_apt() {
    local mirror
    mirror=$(system_mirror)
    [[ -n $mirror ]] || die "no bookworm archive in the system's apt sources; set POKETORTURE_DEBIAN_MIRROR to a Debian mirror URL"
    mkdir -p "$DIR/apt/lists/partial" "$DIR/apt/cache/archives/partial" \
        "$DIR/apt/sources.list.d" "$DIR/apt/preferences.d"
    [[ -f $KEYRING ]] || die "no Debian archive keyring at $KEYRING (package debian-archive-keyring)"
    echo "deb [signed-by=$KEYRING] $mirror $SUITE main" >"$DIR/apt/sources.list"
}

# Every package downloaded into $DIR/debs, unpacked afresh into $DIR/root.
unpack_debs() {
    local deb
    rm -rf "$DIR/root"
    mkdir -p "$DIR/root"
    for deb in "$DIR"/debs/*.deb; do
        dpkg-deb -x "$deb" "$DIR/root"
    done
}
