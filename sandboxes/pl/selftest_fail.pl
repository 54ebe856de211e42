# 
sub f {
    my($s) = @_;
    return scalar reverse($s);
}
use Test::Deep;


sub testhumaneval {
    my $candidate = \&f;
        if(eq_deeply($candidate->("abc"),"abc")) {
        print "ok!" }else{
        exit 1;
        }
}

testhumaneval();
