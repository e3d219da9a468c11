<?php
// sitepolicy e2e probe: one operation per request, the outcome as JSON. Installed into each
// site's docroot by the harness (test content, never shipped).
header('Content-Type: application/json');
$op = $_GET['op'] ?? 'context';
$path = $_GET['path'] ?? '';
$out = ['op' => $op, 'context' => trim((string) @file_get_contents('/proc/self/attr/current')), 'pid' => getmypid()];
set_error_handler(function ($no, $str) use (&$out) { $out['error'] = $str; return true; });
switch ($op) {
    case 'context':
        $out['ok'] = $out['context'] !== '';
        break;
    case 'read':
        $data = file_get_contents($path);
        $out['ok'] = $data !== false;
        $out['data'] = $data === false ? null : $data;
        break;
    case 'list':
        $list = scandir($path);
        $out['ok'] = $list !== false;
        $out['data'] = $list === false ? null : $list;
        break;
    case 'write':
        $n = file_put_contents($path, $_GET['data'] ?? 'x');
        $out['ok'] = $n !== false;
        break;
    case 'connect':
        $s = stream_socket_client('unix://' . $path, $errno, $errstr, 3);
        $out['ok'] = $s !== false;
        if ($s === false) { $out['error'] = ($out['error'] ?? '') . " [$errno] $errstr"; } else { fclose($s); }
        break;
    case 'symlink':
        // link at $path pointing at data (issue 12: a site plants a link the web server follows)
        $out['ok'] = symlink($_GET['data'] ?? '', $path);
        break;
    case 'udp':
    case 'tcp':
        // $path is host:port; one datagram or one connection with a few bytes (issue 12: egress)
        $s = stream_socket_client($op . '://' . $path, $errno, $errstr, 3);
        $sent = $s === false ? false : fwrite($s, 'sitepolicy-e2e egress');
        $out['ok'] = $sent !== false && $sent > 0;
        $out['error'] = ($out['error'] ?? '') . " [$errno] $errstr";
        if ($s !== false) { fclose($s); }
        break;
    case 'session_set':
        session_start();
        $_SESSION['token'] = $_GET['data'] ?? '';
        $out['ok'] = true;
        $out['data'] = session_id();
        $out['save_path'] = session_save_path();
        break;
    case 'session_get':
        session_start();
        $out['data'] = $_SESSION['token'] ?? null;
        $out['ok'] = $out['data'] !== null;
        break;
    case 'log':
        $out['ok'] = error_log($_GET['data'] ?? 'probe');
        break;
    case 'tmp':
        $t = tempnam(sys_get_temp_dir(), 'probe');
        $ok = $t !== false && file_put_contents($t, 'tmp-data') !== false && file_get_contents($t) === 'tmp-data';
        $out['data'] = $t;
        $out['ok'] = $ok && unlink($t);
        break;
    default:
        $out['ok'] = false;
        $out['error'] = 'unknown op';
}
echo json_encode($out), "\n";
