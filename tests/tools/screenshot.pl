#!/usr/bin/env perl
# Reads a QEMU screendump (binary PPM) of the poketorture screen console
# back as text, by comparing every 8x16 cell with the kernel's own font
# (kernel/font8x16.c): the framebuffer draws exactly those glyphs, and in
# VGA text mode the kernel loads them into the adapter (9 pixel wide cells
# there, the ninth column blank or a copy of the eighth). The background
# is black; a cell's glyph is its non-black pixels, its colour theirs.
#
# Prints the screen's rows (a cell no glyph matches as '?', a full block as
# '#'), then "large letters: WORD in COLOUR": the verdict as the big
# letters spell it, each dot one block cell, read against the same font's
# 5x7 shapes, and the colour of those blocks (red, green or the RGB value).
#
# Usage: tests/tools/screenshot.pl SCREEN.ppm [kernel/font8x16.c]
use strict;
use warnings;

my ($ppm, $fontc) = @ARGV;
die "usage: screenshot.pl SCREEN.ppm [font8x16.c]\n" unless defined $ppm;
$fontc //= do { (my $d = $0) =~ s{[^/]*$}{}; "$d../../kernel/font8x16.c" };

my (%by_bitmap, %glyph);
open my $f, '<', $fontc or die "screenshot.pl: $fontc: $!\n";
while (<$f>) {
    next unless /^\s*\[0x([0-9a-f]{2})\] = \{([^}]*)\}/;
    my $code = hex $1;
    my @rows = map { hex } split /,/, $2;
    $glyph{$code} = \@rows;
    $by_bitmap{ join ',', @rows } //= $code;
}
close $f;
die "screenshot.pl: no glyphs in $fontc\n" unless %glyph;

open my $in, '<:raw', $ppm or die "screenshot.pl: $ppm: $!\n";
my $data = do { local $/; <$in> };
close $in;
$data =~ s/\AP6\s+(\d+)\s+(\d+)\s+(\d+)\s//s or die "screenshot.pl: $ppm: not a binary PPM\n";
my ($w, $h) = ($1, $2);
my $cw = ($w % 9 == 0 && $w / 9 == 80) ? 9 : 8;
my ($cols, $rows) = (int($w / $cw), int($h / 16));

my (@text, @colour);
for my $r (0 .. $rows - 1) {
    my $line = '';
    for my $c (0 .. $cols - 1) {
        my (@bits, %fg);
        for my $y (0 .. 15) {
            my $off = (($r * 16 + $y) * $w + $c * $cw) * 3;
            my $px = substr($data, $off, 24);
            my $b = 0;
            for my $x (0 .. 7) {
                my $rgb = substr($px, $x * 3, 3);
                next if $rgb eq "\0\0\0";
                $b |= 0x80 >> $x;
                $fg{$rgb}++;
            }
            push @bits, $b;
        }
        my $code = $by_bitmap{ join ',', @bits };
        my ($top) = sort { $fg{$b} <=> $fg{$a} } keys %fg;
        $colour[$r][$c] = $top;
        $line .= !defined $code ? '?' : $code == 0xdb ? '#' : $code >= 0x20 && $code < 0x7f ? chr $code : '?';
    }
    $line =~ s/\s+$//;
    push @text, $line;
}
print "$_\n" for @text;

# The large letters: the first run of rows with full blocks, 7 high.
my ($r0) = grep { $text[$_] =~ /#/ } 0 .. $#text;
my ($word, $name) = ('(none)', 'none');
if (defined $r0 && $r0 + 6 <= $#text) {
    my @block = @text[$r0 .. $r0 + 6];
    my $c0 = (sort { $a <=> $b } map { /#/ ? $-[0] : () } @block)[0];
    my %shape;	# "5x7 dots" -> character, from the font's doubled rows
    for my $code (0x21 .. 0x7e) {
        next unless $glyph{$code};
        my $key = join '', map { my $b = $glyph{$code}[1 + 2 * $_]; join '', map { $b & (0x40 >> $_) ? '#' : ' ' } 0 .. 4 } 0 .. 6;
        $shape{$key} //= chr $code;
    }
    $word = '';
    my %seen;
    for (my $c = $c0; ; $c += 6) {
        my $key = join '', map { my $l = sprintf '%-*s', $c + 5, $_; substr($l, $c, 5) } @block;
        last if $key !~ /#/;
        $word .= $shape{$key} // '?';
        for my $y (0 .. 6) {
            for my $x (0 .. 4) {
                my $rgb = $colour[$r0 + $y][$c + $x];
                $seen{$rgb}++ if defined $rgb && substr($block[$y] . (' ' x 200), $c + $x, 1) eq '#';
            }
        }
    }
    my ($rgb) = sort { $seen{$b} <=> $seen{$a} } keys %seen;
    if (defined $rgb) {
        my ($R, $G, $B) = unpack 'C3', $rgb;
        $name = $R > 2 * $G && $R > 2 * $B ? 'red' : $G > 2 * $R && $G > 2 * $B ? 'green'
            : sprintf '#%02x%02x%02x', $R, $G, $B;
    }
}
print "large letters: $word in $name\n";
