#!/usr/bin/env perl
# Validate the TAP part of a poketorture serial log with TAP::Parser.
#
# The log starts with whatever the firmware and GRUB printed; the TAP starts
# at "TAP version 13" and runs to the end, where the kernel's fixed final
# line "poketorture: End of test: ..." is allowed (TAP::Parser sees it as an
# unknown line). That final line must agree with the TAP it closes.
#
# Further arguments are checks on named tests, as the suite manifest gives
# them: pass~NAME, skip~NAME, fail~NAME. A test is found by its name, never
# by its TAP number (numbers shift whenever a test is added), and must be
# reported exactly once: a name missing from the TAP fails the check, so a
# renamed test cannot pass unnoticed.
#
# Exit 0 if the TAP is valid and every check holds, 1 with the reasons if
# not, 2 on bad usage.
use strict;
use warnings;
use TAP::Parser;

my $ME = 'tap-check.pl';

sub usage_error {
    print STDERR "$ME: $_[0]\nUsage: tests/qemu/tap-check.pl SERIAL.log [pass~NAME|skip~NAME|fail~NAME]...\n";
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

# A test result as a check names it: pass (ok, no directive), skip (ok #
# SKIP), fail (not ok), or todo (a TODO directive, which the kernel never
# prints and no check accepts).
sub outcome {
    my ($result) = @_;
    return 'fail' unless $result->is_actual_ok;
    return 'skip' if $result->has_skip;
    return 'todo' if $result->has_todo;
    return 'pass';
}

# Checks like "pass~poke.mix" against the results seen, by test name.
sub check_names {
    my ($by_name, $checks, $errors) = @_;
    for my $check (@$checks) {
        my ($want, $name) = @$check;
        my @seen = @{ $by_name->{$name} // [] };
        if (!@seen) {
            push @$errors, "$want~$name: no test '$name' in the TAP";
        } elsif (@seen > 1) {
            push @$errors, "$want~$name: '$name' is reported " . scalar(@seen) . ' times';
        } elsif (outcome($seen[0]) ne $want) {
            push @$errors, "$want~$name: got '" . $seen[0]->as_string . "'";
        }
    }
}

# Splits "pass~NAME" and the like; test names are [A-Za-z0-9._-]+.
sub parse_checks {
    my @checks;
    for my $arg (@_) {
        $arg =~ /^(pass|skip|fail)~([A-Za-z0-9._-]+)$/
          or usage_error("bad check '$arg' (pass~NAME, skip~NAME or fail~NAME, NAME a test name)");
        push @checks, [ $1, $2 ];
    }
    return \@checks;
}

sub main {
    @ARGV >= 1 or usage_error('expected a serial log');
    my ($file, @args) = @ARGV;
    my $checks = parse_checks(@args);
    my @tap = tap_lines($file);
    unless (@tap) {
        print "$ME: $file: FAIL: no 'TAP version 13' line\n";
        return 1;
    }

    my $parser = TAP::Parser->new({ tap => join("\n", @tap) . "\n" });
    my ($final, %by_name);
    while (my $result = $parser->next) {
        $final = $result->as_string
          if $result->is_unknown && $result->as_string =~ /^poketorture: End of test:/;
        push @{ $by_name{ $result->description =~ s/^-\s*//r } }, $result if $result->is_test;
    }

    # Parse errors include a missing plan and a plan the run does not match.
    my @errors = $parser->parse_errors;
    check_final_line($parser, $final, \@errors);
    check_names(\%by_name, $checks, \@errors);

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
