#!/usr/bin/env perl
# Validate the TAP part of a poketorture serial log with TAP::Parser.
#
# The log starts with whatever the firmware and GRUB printed; the TAP starts
# at "TAP version 13" and runs to the end, where the kernel's fixed final
# line "poketorture: End of test: ..." is allowed (TAP::Parser sees it as an
# unknown line). That final line must agree with the TAP it closes.
#
# Exit 0 if the TAP is valid, 1 with the reasons if not, 2 on bad usage.
use strict;
use warnings;
use TAP::Parser;

my $ME = 'tap-check.pl';

sub usage_error {
    print STDERR "$ME: $_[0]\nUsage: tests/qemu/tap-check.pl SERIAL.log\n";
    exit 2;
}

# The lines from "TAP version 13" on, without carriage returns. Firmware
# escape sequences may sit before the version on its line: drop them.
sub tap_lines {
    my ($file) = @_;
    open my $fh, '<:raw', $file or usage_error("cannot read '$file': $!");
    my @lines = map { s/\r//gr } split /\n/, do { local $/; <$fh> };
    close $fh;
    for my $i (0 .. $#lines) {
        next unless $lines[$i] =~ /(TAP version 13\s*)$/;
        return ($1, @lines[ $i + 1 .. $#lines ]);
    }
    return;
}

# The counts of the final line must be what the TAP says, and its verdict
# SUCCESS exactly when nothing failed.
sub check_final_line {
    my ($parser, $final, $errors) = @_;
    return push @$errors, 'no final "poketorture: End of test:" line' unless defined $final;
    my ($verdict, $p, $f, $s) =
      $final =~ /^poketorture: End of test: (SUCCESS|FAILURE) \((\d+) passed, (\d+) failed, (\d+) skipped\)$/
      or return push @$errors, "malformed final line: $final";
    my $skipped = () = $parser->skipped;
    my $failed  = () = $parser->failed;
    my $passed  = (() = $parser->passed) - $skipped;
    push @$errors, "final line counts ($p passed, $f failed, $s skipped) differ from the TAP"
      . " ($passed passed, $failed failed, $skipped skipped)"
      if $p != $passed || $f != $failed || $s != $skipped;
    my $want = ($failed == 0 && !$parser->has_problems) ? 'SUCCESS' : 'FAILURE';
    push @$errors, "final line says $verdict but the TAP makes it $want" if $verdict ne $want;
}

sub main {
    @ARGV == 1 or usage_error('expected exactly one file');
    my $file = $ARGV[0];
    my @tap = tap_lines($file);
    unless (@tap) {
        print "$ME: $file: FAIL: no 'TAP version 13' line\n";
        return 1;
    }

    my $parser = TAP::Parser->new({ tap => join("\n", @tap) . "\n" });
    my $final;
    while (my $result = $parser->next) {
        $final = $result->as_string
          if $result->is_unknown && $result->as_string =~ /^poketorture: End of test:/;
    }

    # Parse errors include a missing plan and a plan the run does not match.
    my @errors = $parser->parse_errors;
    check_final_line($parser, $final, \@errors);

    my $summary = sprintf '%d tests, %d passed, %d failed, %d skipped',
      $parser->tests_run, scalar($parser->passed) - scalar($parser->skipped),
      scalar($parser->failed), scalar($parser->skipped);
    if (@errors) {
        print "$ME: $file: FAIL: $summary\n";
        print "$ME:   $_\n" for @errors;
        return 1;
    }
    print "$ME: $file: OK: $summary\n";
    return 0;
}

exit main();
