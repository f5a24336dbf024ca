--TEST--
wxtoken: php/wxtoken.stub.php declares exactly the functions the extension has
--FILE--
<?php
$stub = file_get_contents(__DIR__ . '/../wxtoken.stub.php');
preg_match_all('/^function (\w+)\((.*?)\): (\w+) \{\}$/m', $stub, $m, PREG_SET_ORDER);
// Defaults are the stub's business; the comparison is of types and names.
$declared = [];
foreach ($m as [, $name, $params, $ret]) {
    $declared[$name] = "$name(" . preg_replace('/ = [^,]*/', '', $params) . "): $ret";
}
$actual = [];
foreach ((new ReflectionExtension('wxtoken'))->getFunctions() as $f) {
    $params = array_map(fn($p) => $p->getType() . ($p->isVariadic() ? ' ...$' : ' $') . $p->getName(), $f->getParameters());
    $actual[$f->getName()] = sprintf('%s(%s): %s', $f->getName(), implode(', ', $params), $f->getReturnType());
}
ksort($declared);
ksort($actual);
var_dump($declared === $actual);
echo implode("\n", $actual), "\n";
?>
--EXPECT--
bool(true)
getToken(mixed ...$ignored): string
wxtoken_invalidate(string $failedToken): bool
wxtoken_jssdk_config(string $url, bool $agent): array
wxtoken_last_error(): string
wxtoken_status(): array
wxtoken_ticket(string $type): string
