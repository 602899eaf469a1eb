#!/usr/bin/env perl
# Converts a binary PPM (a QEMU screendump) to PNG (RFC 2083: 8-bit RGB,
# no filter, one zlib stream), for the screenshots kept in docs/.
# Usage: tests/tools/ppm2png.pl IN.ppm OUT.png
use strict;
use warnings;
use Compress::Zlib qw(compress crc32);

my ($in, $out) = @ARGV;
die "usage: ppm2png.pl IN.ppm OUT.png\n" unless defined $out;
open my $f, '<:raw', $in or die "ppm2png.pl: $in: $!\n";
my $data = do { local $/; <$f> };
$data =~ s/\AP6\s+(\d+)\s+(\d+)\s+255\s//s or die "ppm2png.pl: $in: not an 8-bit binary PPM\n";
my ($w, $h) = ($1, $2);
my $raw = join '', map { "\0" . substr($data, $_ * $w * 3, $w * 3) } 0 .. $h - 1;
sub chunk { my ($type, $body) = @_; pack('N', length $body) . $type . $body . pack('N', crc32($type . $body)) }
open my $o, '>:raw', $out or die "ppm2png.pl: $out: $!\n";
print $o "\x89PNG\r\n\x1a\n", chunk('IHDR', pack 'NNCCCCC', $w, $h, 8, 2, 0, 0, 0),
    chunk('IDAT', compress($raw, 9)), chunk('IEND', '');
close $o or die "ppm2png.pl: $out: $!\n";
