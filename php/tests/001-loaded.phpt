--TEST--
wxtoken: the extension loads and declares the legacy getToken() and its helpers
--FILE--
<?php
var_dump(extension_loaded('wxtoken'));
foreach (['getToken', 'wxtoken_last_error', 'wxtoken_invalidate'] as $name) {
    $f = new ReflectionFunction($name);
    $params = array_map(fn($p) => $p->getType() . ($p->isVariadic() ? ' ...$' : ' $') . $p->getName(), $f->getParameters());
    printf("%s(%s): %s\n", $f->getName(), implode(', ', $params), $f->getReturnType());
}
var_dump(phpversion('wxtoken') === (new ReflectionExtension('wxtoken'))->getVersion());
// Every setting has its ini entry, empty by default (so the environment and
// then the core's defaults apply).
foreach (['appid', 'appsecret', 'token_file', 'expiry_file', 'api_base', 'refresh_margin',
          'mode', 'http_timeout', 'redis_url', 'passive', 'ca_file', 'appsecret_file',
          'allow_http', 'redis_prefix', 'database_url', 'database_prefix'] as $name) {
    if (ini_get("wxtoken.$name") !== '') {
        echo "wxtoken.$name is not empty\n";
    }
}
echo "done\n";
?>
--EXPECT--
bool(true)
getToken(mixed ...$ignored): string
wxtoken_last_error(): string
wxtoken_invalidate(string $failedToken): bool
bool(true)
done
