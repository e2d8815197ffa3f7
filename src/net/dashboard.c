/* GET /: a small live page that subscribes with EventSource, publishes with
 * fetch and shows the server's health, so a browser is a client out of the box.
 * SPDX-License-Identifier: MIT */
#include "net/router.h"

static const char page[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>crier</title>\n"
    "<style>body{font:15px system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em}"
    "input,textarea,button{font:inherit}#log{border:1px solid #ccc;min-height:8em;padding:.5em;"
    "white-space:pre-wrap;font-family:monospace}#health{color:#555}</style></head><body>\n"
    "<h1>crier</h1><p id=\"health\">&nbsp;</p>\n"
    "<p><label>channel <input id=\"ch\" value=\"news\"></label> <button id=\"sub\">subscribe</button> "
    "<span id=\"state\">not subscribed</span></p>\n"
    "<p><textarea id=\"msg\" rows=\"3\" cols=\"50\">hello from the browser</textarea><br>"
    "<button id=\"pub\">publish</button> <span id=\"pubres\"></span></p>\n"
    "<div id=\"log\"></div>\n"
    "<script>\n"
    "const $=id=>document.getElementById(id);let es=null;\n"
    "function line(t){const d=document.createElement('div');d.textContent=t;$('log').prepend(d);}\n"
    "$('sub').onclick=()=>{if(es)es.close();const ch=$('ch').value;\n"
    " es=new EventSource('/sub/'+encodeURIComponent(ch));\n"
    " es.onopen=()=>{$('state').textContent='subscribed to '+ch;};\n"
    " es.onerror=()=>{$('state').textContent='reconnecting...';};\n"
    " es.onmessage=e=>line(e.lastEventId+'  '+e.data);\n"
    " es.addEventListener('crier-gap',e=>line('(gap: some messages are gone) '+e.data));\n"
    " es.addEventListener('crier-deleted',e=>{line('(channel deleted)');es.close();});};\n"
    "$('pub').onclick=async()=>{const r=await fetch('/pub/'+encodeURIComponent($('ch').value),"
    "{method:'POST',body:$('msg').value});$('pubres').textContent=r.status+' '+await r.text();};\n"
    "async function health(){try{const h=await (await fetch('/health')).json();\n"
    " $('health').textContent=`engine ${h.engine}, ${h.connections} connections, ${h.channels} channels, `+\n"
    " `${h.published} published, ${h.delivered} delivered`;}catch(e){}}\n"
    "health();setInterval(health,2000);\n"
    "</script></body></html>\n";

void cr_api_dashboard(cr_conn_t *c)
{
    cr_buf_t head = CR_BUF_INIT;
    cr_conn_head(c, &head, 200);
    cr_conn_respond(c, &head, "text/html; charset=utf-8", page, sizeof(page) - 1);
    cr_buf_free(&head);
}
